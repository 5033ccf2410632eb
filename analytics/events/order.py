"""`order` topic: order.created (full order with items) and order.cancelled (`{"order_number"}`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from analytics.events.envelope import Envelope, SnapshotDocument, SnapshotEnvelope
from analytics.events.fields import (
    Int32,
    JsonObject,
    Key24,
    Model,
    Str2,
    Str20,
    Str50,
    Str100,
    Str200,
    Str255,
    Text,
    UtcDateTime,
)

DUPLICATE_ITEM_ID = "item_id {item_id} appears twice"

# orders.status is NOT NULL and the contract defaults it to "pending".
OrderStatus = Annotated[Str20, BeforeValidator(lambda value: "pending" if value is None else value)]


class Customer(Model):
    user_id: Key24
    display_name: Str200 | None = None
    email: Str255 | None = None
    phone: Str50 | None = None


class ShippingAddress(Model):
    recipient_name: Str200 | None = None
    phone: Str50 | None = None
    street_address_1: Str200 | None = None
    street_address_2: Str200 | None = None
    city: Str100 | None = None
    state: Str100 | None = None
    zip_code: Str20 | None = None
    country: Str2 | None = None


class ItemProductSnapshot(Model):
    product_id: Key24
    supplier_id: Key24
    product_name: Str200 | None = None
    variant_name: Str200 | None = None
    variant_attributes: JsonObject | None = None
    image_url: Text | None = None
    supplier_name: Str200 | None = None


class OrderItem(Model):
    item_id: Str50
    product_snapshot: ItemProductSnapshot
    quantity: Int32
    unit_price_cents: Int32
    final_price_cents: Int32
    total_cents: Int32
    fulfillment_status: Str20 | None = "pending"
    shipped_quantity: Int32 | None = 0
    tracking_number: Str100 | None = None
    carrier: Str100 | None = None
    shipped_at: UtcDateTime | None = None
    delivered_at: UtcDateTime | None = None


class OrderDocument(SnapshotDocument):
    order_number: Str50
    customer: Customer
    items: list[OrderItem] = Field(default_factory=list)
    shipping_address: ShippingAddress | None = None
    status: OrderStatus = "pending"
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @field_validator("items")
    @classmethod
    def _item_ids_are_unique(cls, items: list[OrderItem]) -> list[OrderItem]:
        # Two items with one item_id would be merged into one order_items row.
        seen: set[str] = set()
        for item in items:
            if item.item_id in seen:
                # The item_id is shown in reasons only as `decode_event` renders it.
                raise PydanticCustomError(
                    "duplicate_item_id", DUPLICATE_ITEM_ID, {"item_id": item.item_id}
                )
            seen.add(item.item_id)
        return items


class OrderCreated(SnapshotEnvelope):
    event_type: Literal["order.created"]
    data: OrderDocument


class OrderCancelledData(Model):
    order_number: Str50


class OrderCancelled(Envelope):
    event_type: Literal["order.cancelled"]
    data: OrderCancelledData
