from __future__ import annotations

from analytics.mapping import map_event
from analytics.mapping.ops import Claim, Kind, Patch, Upsert
from analytics.schema import order_items, orders
from tests.samples import sample_event


def test_created_inserts_the_order_and_one_row_per_item() -> None:
    change = map_event(sample_event("order.created"))
    assert change.kind is Kind.SNAPSHOT
    assert change.claim == Claim("order_number", "ORD-20250115-B4A3")
    order, *items = change.ops
    assert isinstance(order, Upsert)
    assert order.table is orders
    assert order.update == ("status", "updated_at", "event_id", "event_timestamp")
    assert [item.row["item_id"] for item in items if isinstance(item, Upsert)] == [
        "item_1",
        "item_2",
    ]
    first = items[0]
    assert isinstance(first, Upsert)
    assert first.table is order_items
    assert first.row["variant_attributes_json"] == {"Size": "small", "Color": "red"}
    assert first.update == (
        "fulfillment_status",
        "shipped_quantity",
        "tracking_number",
        "carrier",
        "shipped_at",
        "delivered_at",
    )


def test_cancelled_patches_the_envelope_order_and_claims_its_number() -> None:
    change = map_event(sample_event("order.cancelled"))
    assert change.kind is Kind.PATCH
    assert change.entity_id == "d383f380c1cdcb4d691d71a5"
    assert change.claim == Claim("order_number", "ORD-20250115-D575")
    (patch,) = change.ops
    assert isinstance(patch, Patch)
    assert patch.values["status"] == "cancelled"
