"""Products: drafts that get published, edited, run out of stock, are discontinued or restored,
and finally deleted; their variants (keyed like "small-red") come and go between snapshots.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from producer_sim.message import Document, document_time
from producer_sim.randomness import maybe, object_id, pick
from producer_sim.suppliers import Supplier
from producer_sim.text import (
    BRANDS,
    CATEGORIES,
    COLORS,
    DESCRIPTIONS,
    PRODUCT_ADJECTIVES,
    PRODUCT_NOUNS,
    SIZES,
    TOPIC_DESCRIPTIONS,
    UNIT_TYPES,
    Address,
)

MAX_VARIANTS = 5


class Status(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    OUT_OF_STOCK = "out_of_stock"
    DISCONTINUED = "discontinued"


@dataclass
class Variant:
    variant_id: str
    size: str
    color: str
    price_cents: int
    cost_cents: int | None
    quantity: int
    dimensions: tuple[float, float, float]
    image_url: str | None = None

    @property
    def key(self) -> str:
        return f"{self.size}-{self.color}"

    @property
    def name(self) -> str:
        return " ".join(word.capitalize() for word in self.key.split("-"))

    @property
    def attributes(self) -> dict[str, str]:
        return {"Size": self.size, "Color": self.color}

    def document(self) -> Document:
        width, height, depth = self.dimensions
        return {
            "variant_id": self.variant_id,
            "variant_name": self.name,
            "attributes": [
                {"attribute_name": name, "attribute_value": value}
                for name, value in self.attributes.items()
            ],
            "price_cents": self.price_cents,
            "cost_cents": self.cost_cents,
            "quantity": self.quantity,
            "package_dimensions": {"width_cm": width, "height_cm": height, "depth_cm": depth},
            "image_url": self.image_url,
        }


@dataclass
class Product:
    id: str
    supplier_id: str
    supplier_name: str
    name: str
    short_description: str | None
    category: str
    unit_type: str
    brand: str | None
    stock_address: Address
    base_price_cents: int
    created_at: datetime
    updated_at: datetime
    topics: list[tuple[str, str]] = field(default_factory=list)
    variants: dict[str, Variant] = field(default_factory=dict)
    status: Status = Status.DRAFT
    published_at: datetime | None = None
    view_count: int = 0
    favorite_count: int = 0
    purchase_count: int = 0
    total_reviews: int = 0
    open_orders: int = 0  # orders not yet delivered or cancelled that contain it

    @property
    def base_sku(self) -> str:
        return f"SKU-{self.id[-6:].upper()}"

    def document(self) -> Document:
        address = self.stock_address
        return {
            "id": self.id,
            "revision_id": None,
            "supplier_id": self.supplier_id,
            "supplier_info": {"name": self.supplier_name},
            "name": self.name,
            "short_description": self.short_description,
            "topic_descriptions": [
                {"topic": topic, "description": description, "display_order": order}
                for order, (topic, description) in enumerate(self.topics)
            ],
            "category": self.category,
            "unit_type": self.unit_type,
            "metadata": {"base_sku": self.base_sku, "brand": self.brand},
            "stock_locations": [
                {
                    "location_name": "Main",
                    "street_address": address.street_address_1,
                    "city": address.city,
                    "state": address.state,
                    "zip_code": address.zip_code,
                    "country": address.country,
                    "quantity": sum(variant.quantity for variant in self.variants.values()),
                }
            ],
            "variants": {key: variant.document() for key, variant in self.variants.items()},
            "base_price_cents": self.base_price_cents,
            "stats": {
                "view_count": self.view_count,
                "favorite_count": self.favorite_count,
                "purchase_count": self.purchase_count,
                "total_reviews": self.total_reviews,
            },
            "status": str(self.status),
            "published_at": document_time(self.published_at) if self.published_at else None,
            "created_at": document_time(self.created_at),
            "updated_at": document_time(self.updated_at),
        }


def new_variant(rng: random.Random, product: Product) -> Variant | None:
    """A variant whose size-color key the product does not have yet (None when all taken)."""
    free = [
        (size, color)
        for size in SIZES
        for color in COLORS
        if f"{size}-{color}" not in product.variants
    ]
    if not free:
        return None
    size, color = pick(rng, free)
    price = max(100, product.base_price_cents // 2 + rng.randrange(-500, 3000))
    variant = Variant(
        variant_id=f"var-{rng.randrange(1_000_000):06d}",
        size=size,
        color=color,
        price_cents=price,
        cost_cents=price // 3 if maybe(rng, 0.5) else None,
        quantity=rng.randint(1, 80),
        dimensions=(
            round(rng.uniform(5, 40), 2),
            round(rng.uniform(2, 30), 2),
            round(rng.uniform(1, 20), 2),
        ),
    )
    if maybe(rng, 0.5):
        variant.image_url = f"https://cdn.example.com/v/{product.id}/{variant.key}.jpg"
    return variant


def add_variant(rng: random.Random, product: Product) -> None:
    variant = new_variant(rng, product)
    if variant is not None:
        product.variants[variant.key] = variant


def new_product(rng: random.Random, supplier: Supplier, number: int, now: datetime) -> Product:
    product = Product(
        id=object_id(rng),
        supplier_id=supplier.id,
        supplier_name=supplier.legal_name,
        name=f"{pick(rng, PRODUCT_ADJECTIVES)} {pick(rng, PRODUCT_NOUNS)} #{number}",
        short_description=pick(rng, DESCRIPTIONS) if maybe(rng, 0.9) else None,
        category=pick(rng, CATEGORIES),
        unit_type=pick(rng, UNIT_TYPES),
        brand=pick(rng, BRANDS) if maybe(rng, 0.3) else None,
        stock_address=supplier.address,
        base_price_cents=rng.randint(500, 25_000),
        created_at=now,
        updated_at=now,
        topics=[pick(rng, TOPIC_DESCRIPTIONS)],
    )
    for _ in range(rng.randint(1, 3)):
        add_variant(rng, product)
    return product


def edit_product(rng: random.Random, product: Product, now: datetime) -> None:
    """What a supplier (or the platform's counters) changes between two snapshots."""
    product.view_count += rng.randint(0, 120)
    product.favorite_count += rng.randint(0, 3)
    change = rng.randrange(6)
    if change == 0 and len(product.variants) < MAX_VARIANTS:
        add_variant(rng, product)
    elif change == 1 and len(product.variants) > 1:
        del product.variants[pick(rng, list(product.variants))]
    elif change == 2:
        variant = pick(rng, list(product.variants.values()))
        variant.price_cents = max(100, variant.price_cents + rng.randrange(-800, 900))
    elif change == 3:
        product.base_price_cents = max(100, product.base_price_cents + rng.randrange(-2000, 2000))
        product.short_description = pick(rng, DESCRIPTIONS)
    elif change == 4:
        product.topics = rng.sample(TOPIC_DESCRIPTIONS, rng.randint(0, 3))
    else:
        product.total_reviews += rng.randint(0, 2)
        if product.status is not Status.OUT_OF_STOCK:
            variant = pick(rng, list(product.variants.values()))
            variant.quantity = rng.randint(0, 100)
    product.updated_at = now


def publish(product: Product, now: datetime) -> None:
    product.status = Status.ACTIVE
    product.published_at = now
    product.updated_at = now


def mark_out_of_stock(product: Product, now: datetime) -> None:
    product.status = Status.OUT_OF_STOCK
    for variant in product.variants.values():
        variant.quantity = 0
    product.updated_at = now


def discontinue(product: Product, now: datetime) -> None:
    product.status = Status.DISCONTINUED
    product.updated_at = now


def restore(rng: random.Random, product: Product, now: datetime) -> None:
    """Back on sale when it had been published, else back to a draft; stock is refilled."""
    product.status = Status.ACTIVE if product.published_at is not None else Status.DRAFT
    for variant in product.variants.values():
        if variant.quantity == 0:
            variant.quantity = rng.randint(5, 60)
    product.updated_at = now


def sell(product: Product, variant: Variant, quantity: int) -> None:
    variant.quantity = max(0, variant.quantity - quantity)
    product.purchase_count += quantity
