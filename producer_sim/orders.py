"""Orders: placed by users for active products, re-sent as order.created at each step of
their fulfillment (pending → processing → shipped → delivered), or cancelled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from producer_sim.message import Document, document_time
from producer_sim.products import Product, Variant, sell
from producer_sim.randomness import object_id, pick
from producer_sim.text import CARRIERS
from producer_sim.users import User

MAX_ITEMS = 4


class OrderStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


NEXT_STATUS = {
    OrderStatus.PENDING: OrderStatus.PROCESSING,
    OrderStatus.PROCESSING: OrderStatus.SHIPPED,
    OrderStatus.SHIPPED: OrderStatus.DELIVERED,
}


@dataclass
class Item:
    item_id: str
    product_id: str
    supplier_id: str
    product_name: str
    supplier_name: str
    variant_key: str
    variant_attributes: dict[str, str]
    image_url: str | None
    quantity: int
    unit_price_cents: int
    fulfillment_status: str = "pending"
    shipped_quantity: int = 0
    tracking_number: str | None = None
    carrier: str | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def final_price_cents(self) -> int:
        return self.unit_price_cents * self.quantity

    def document(self) -> Document:
        return {
            "item_id": self.item_id,
            "product_snapshot": {
                "product_id": self.product_id,
                "supplier_id": self.supplier_id,
                "product_name": self.product_name,
                "variant_name": self.variant_key,
                "variant_attributes": dict(self.variant_attributes),
                "image_url": self.image_url,
                "supplier_name": self.supplier_name,
            },
            "quantity": self.quantity,
            "unit_price_cents": self.unit_price_cents,
            "final_price_cents": self.final_price_cents,
            "fulfillment_status": self.fulfillment_status,
            "shipped_quantity": self.shipped_quantity,
            "tracking_number": self.tracking_number,
            "carrier": self.carrier,
            "shipped_at": document_time(self.shipped_at) if self.shipped_at else None,
            "delivered_at": document_time(self.delivered_at) if self.delivered_at else None,
            "total_cents": self.final_price_cents,
        }


@dataclass
class Order:
    id: str
    order_number: str
    customer: User
    customer_name: str
    customer_email: str
    customer_phone: str | None
    created_at: datetime
    updated_at: datetime
    items: list[Item] = field(default_factory=list)
    status: OrderStatus = OrderStatus.PENDING

    @property
    def product_ids(self) -> list[str]:
        return [item.product_id for item in self.items]

    @property
    def total_cents(self) -> int:
        return sum(item.final_price_cents for item in self.items)

    def document(self) -> Document:
        address = self.customer.address
        return {
            "id": self.id,
            "revision_id": None,
            "order_number": self.order_number,
            "customer": {
                "user_id": self.customer.id,
                "display_name": self.customer_name,
                "email": self.customer_email,
                "phone": self.customer_phone,
            },
            "items": [item.document() for item in self.items],
            "shipping_address": {
                "recipient_name": self.customer_name,
                "phone": self.customer_phone,
                **address.document(),
            },
            "status": str(self.status),
            "created_at": document_time(self.created_at),
            "updated_at": document_time(self.updated_at),
        }


def _item(rng: random.Random, number: int, product: Product, variant: Variant) -> Item:
    return Item(
        item_id=f"item_{number}",
        product_id=product.id,
        supplier_id=product.supplier_id,
        product_name=product.name,
        supplier_name=product.supplier_name,
        variant_key=variant.key,
        variant_attributes=variant.attributes,
        image_url=variant.image_url or "https://placeholder.com/default.jpg",
        quantity=rng.randint(1, 4),
        unit_price_cents=variant.price_cents,
    )


def new_order(
    rng: random.Random,
    customer: User,
    products: list[Product],
    order_number: str,
    now: datetime,
) -> Order:
    """An order of 1 to 4 items from `products` (active ones, distinct), priced as listed now."""
    order = Order(
        id=object_id(rng),
        order_number=order_number,
        customer=customer,
        customer_name=customer.display_name,
        customer_email=customer.email,
        customer_phone=customer.phone,
        created_at=now,
        updated_at=now,
    )
    for number, product in enumerate(products, start=1):
        in_stock = [v for v in product.variants.values() if v.quantity > 0]
        variant = pick(rng, in_stock or list(product.variants.values()))
        item = _item(rng, number, product, variant)
        sell(product, variant, item.quantity)
        order.items.append(item)
    return order


def advance(rng: random.Random, order: Order, now: datetime) -> None:
    """The next fulfillment step, items included."""
    order.status = NEXT_STATUS[order.status]
    carrier = pick(rng, CARRIERS)
    tracking = f"1Z{rng.getrandbits(64):016X}"
    for item in order.items:
        if order.status is OrderStatus.PROCESSING:
            item.fulfillment_status = "processing"
        elif order.status is OrderStatus.SHIPPED:
            item.fulfillment_status = "shipped"
            item.shipped_quantity = item.quantity
            item.carrier = carrier
            item.tracking_number = tracking
            item.shipped_at = now
        else:
            item.fulfillment_status = "delivered"
            item.delivered_at = now
    order.updated_at = now


def cancel(order: Order, now: datetime) -> None:
    order.status = OrderStatus.CANCELLED
    order.updated_at = now


def is_open(order: Order) -> bool:
    return order.status in NEXT_STATUS


# Order numbers as the backend makes them have 4 hex digits: unique within a run (the
# world retries a taken one), but they collide between runs, as the backend's do across its
# instances. The simulator's default has 12, so that runs of different seeds can share a
# database; 4 is kept as a fault to inject (key_conflict dead letters).
BACKEND_ORDER_DIGITS = 4
UNIQUE_ORDER_DIGITS = 12


def order_number(rng: random.Random, now: datetime, taken: set[str], digits: int) -> str:
    """ORD-YYYYMMDD-XXXX with `digits` hex digits, unique across the run."""
    day = now.strftime("%Y%m%d")
    for width in (digits, digits, digits, digits + 2, digits + 2, digits + 4, digits + 8):
        candidate = f"ORD-{day}-{rng.getrandbits(4 * width):0{width}X}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise RuntimeError("no free order number")  # pragma: no cover - 2**48 choices
