"""order.* events → `orders` and `order_items` rows.

An order is frozen at its first insert: later order.created events for it move only the
status and the items' fulfillment columns.
"""

from __future__ import annotations

from typing import Any

from analytics.events.order import OrderCancelled, OrderCreated, OrderItem, ShippingAddress
from analytics.mapping.ops import Change, Claim, Kind, Patch, Upsert, event_columns
from analytics.schema import order_items, orders

UPDATABLE = ("status", "updated_at", "event_id", "event_timestamp")
ITEM_UPDATABLE = (
    "fulfillment_status",
    "shipped_quantity",
    "tracking_number",
    "carrier",
    "shipped_at",
    "delivered_at",
)


def map_created(event: OrderCreated) -> Change:
    data = event.data
    shipping = data.shipping_address or ShippingAddress()
    row = {
        "order_id": event.entity_id,
        "order_number": data.order_number,
        "customer_user_id": data.customer.user_id,
        "customer_display_name": data.customer.display_name,
        "customer_email": data.customer.email,
        "customer_phone": data.customer.phone,
        "shipping_recipient_name": shipping.recipient_name,
        "shipping_phone": shipping.phone,
        "shipping_street_1": shipping.street_address_1,
        "shipping_street_2": shipping.street_address_2,
        "shipping_city": shipping.city,
        "shipping_state": shipping.state,
        "shipping_zip_code": shipping.zip_code,
        "shipping_country": shipping.country,
        "status": data.status,
        "created_at": data.created_at,
        "updated_at": data.updated_at,
        **event_columns(event.event_id, event.timestamp),
    }
    ops = (
        Upsert(orders, row, UPDATABLE),
        *(
            Upsert(order_items, item_row(event.entity_id, item), ITEM_UPDATABLE)
            for item in data.items
        ),
    )
    claim = Claim("order_number", data.order_number)
    return Change(
        orders, event.entity_id, event.timestamp, Kind.SNAPSHOT, ops, claim, event_id=event.event_id
    )


def item_row(order_id: str, item: OrderItem) -> dict[str, Any]:
    product = item.product_snapshot
    return {
        "order_id": order_id,
        "item_id": item.item_id,
        "product_id": product.product_id,
        "supplier_id": product.supplier_id,
        "product_name": product.product_name,
        "variant_name": product.variant_name,
        "variant_attributes_json": product.variant_attributes,
        "image_url": product.image_url,
        "supplier_name": product.supplier_name,
        "quantity": item.quantity,
        "unit_price_cents": item.unit_price_cents,
        "final_price_cents": item.final_price_cents,
        "total_cents": item.total_cents,
        "fulfillment_status": item.fulfillment_status,
        "shipped_quantity": item.shipped_quantity,
        "tracking_number": item.tracking_number,
        "carrier": item.carrier,
        "shipped_at": item.shipped_at,
        "delivered_at": item.delivered_at,
    }


def map_cancelled(event: OrderCancelled) -> Change:
    """Cancels by order_number; the planner checks that number belongs to `entity_id`."""
    values = {"status": "cancelled", **event_columns(event.event_id, event.timestamp)}
    return Change(
        orders,
        event.entity_id,
        event.timestamp,
        Kind.PATCH,
        (Patch(orders, event.entity_id, values),),
        Claim("order_number", event.data.order_number),
        event_id=event.event_id,
    )
