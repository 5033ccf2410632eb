"""What `apply` guarantees, event type by event type and edge case by edge case."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.dal import ApplyResult, apply
from analytics.errors import Reason
from analytics.events import Event
from analytics.events.user import UserDocument, UserProfile, UserSnapshot
from analytics.schema import (
    metadata,
    order_items,
    orders,
    posts,
    product_variants,
    products,
    suppliers,
    tombstones,
    users,
)
from tests.samples import event_from, sample_dict

USER = "ec99108ddb5b5fab8f4d3e27"
PRODUCT = "a104a795bd4aeab02891dd3c"
ORDER = "4d13472248e13ae354e3d0a9"
OTHER_ORDER = "5e24583359f24bf465f4eab0"


def envelope(event_type: str, entity_id: str, stamp: str, **data: Any) -> dict[str, Any]:
    """A sample of `event_type` re-addressed to `entity_id` at `stamp`, with data overrides."""
    base = copy.deepcopy(sample_dict(event_type))
    base.update(entity_id=entity_id, timestamp=stamp, event_id=str(uuid.uuid4()))
    if "id" in base["data"]:
        base["data"]["id"] = entity_id
    base["data"].update(data)
    return base


def run(engine: sa.Engine, *events: Event) -> ApplyResult:
    with engine.begin() as connection:
        return apply(connection, events)


def rows(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(table)).mappings().all()
    key = [column.name for column in table.columns if column.name != "id"]
    return sorted(
        ({name: row[name] for name in key} for row in found),
        key=lambda row: [str(row[name]) for name in key],
    )


def snapshot(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    return {table.name: rows(engine, table) for table in metadata.sorted_tables}


def one(engine: sa.Engine, table: sa.Table) -> dict[str, Any]:
    (row,) = rows(engine, table)
    return row


def user(stamp: str, display_name: str = "Ravi Levi", entity_id: str = USER) -> Event:
    base = envelope("user.created", entity_id, stamp)
    base["data"]["profile"]["display_name"] = display_name
    return event_from(base)


def product(stamp: str, variant_keys: Sequence[str], **data: Any) -> Event:
    base = envelope("product.created", PRODUCT, stamp, **data)
    variant = base["data"]["variants"]["xl-black"]
    base["data"]["variants"] = dict.fromkeys(variant_keys, variant)
    return event_from(base)


def order(stamp: str, order_id: str = ORDER, number: str = "ORD-1", **data: Any) -> Event:
    return event_from(envelope("order.created", order_id, stamp, order_number=number, **data))


# --- idempotency and ordering ----------------------------------------------------------


def test_the_same_batch_twice_leaves_the_same_rows(engine: sa.Engine) -> None:
    batch = [
        user("2025-01-15T10:00:00Z"),
        product("2025-01-15T10:00:00Z", ["a", "b"]),
        order("2025-01-15T10:00:00Z"),
        event_from(envelope("post.created", "1235c340b049ec373f63d83b", "2025-01-15T10:00:00Z")),
        event_from(
            envelope("supplier.created", "6b77730f65bd9acbb57a6a1d", "2025-01-15T10:00:00Z")
        ),
    ]
    first = run(engine, *batch)
    assert first.applied == [0, 1, 2, 3, 4]
    before = snapshot(engine)
    second = run(engine, *batch)
    assert second.applied == [0, 1, 2, 3, 4]
    assert snapshot(engine) == before


def with_id(event: Event, event_id: str) -> Event:
    return event.model_copy(update={"event_id": event_id})


def test_a_stale_snapshot_changes_nothing(engine: sa.Engine) -> None:
    run(engine, user("2025-01-15T10:00:05Z", "Newer"))
    stale = run(engine, user("2025-01-15T10:00:04Z", "Older"))
    assert stale.stale == [0]
    assert one(engine, users)["display_name"] == "Newer"


def test_a_tie_is_decided_by_event_id_and_the_same_event_applies_again(
    engine: sa.Engine,
) -> None:
    stamp = "2025-01-15T10:00:05Z"
    middle = with_id(user(stamp, "Middle"), "bbbb")
    run(engine, middle)
    assert run(engine, with_id(user(stamp, "Lower id"), "aaaa")).stale == [0]
    assert one(engine, users)["display_name"] == "Middle"
    assert run(engine, middle).applied == [0]  # redelivered: rewrites what it wrote
    assert run(engine, with_id(user(stamp, "Higher id"), "cccc")).applied == [0]
    assert one(engine, users)["display_name"] == "Higher id"
    # Ids compare by code point, as the source's strings do: "B" < "a".
    assert run(engine, with_id(user(stamp, "Upper case"), "Dddd")).stale == [0]


@pytest.mark.parametrize("batch", [True, False], ids=["one batch", "one by one"])
def test_a_redelivered_update_does_not_undo_a_delete_at_the_same_instant(
    engine: sa.Engine, batch: bool
) -> None:
    stamp = "2025-01-15T10:00:05Z"
    updated = with_id(product(stamp, ["a"]), "ffff")
    deleted = with_id(
        event_from(envelope("product.deleted", PRODUCT, stamp, product_id=PRODUCT)), "0000"
    )
    stream = [updated, deleted, updated]
    if batch:
        result = run(engine, *stream)
        assert (result.applied, result.stale) == ([0, 1], [2])
    else:
        assert [run(engine, event).stale for event in stream] == [[], [], [0]]
    assert rows(engine, products) == []
    assert rows(engine, product_variants) == []


@pytest.mark.parametrize("batch", [True, False], ids=["one batch", "one by one"])
def test_a_redelivered_update_does_not_undo_a_soft_delete_or_a_cancel(
    engine: sa.Engine, batch: bool
) -> None:
    stamp = "2025-01-15T10:00:05Z"
    updated_user = with_id(user(stamp, "Still here?"), "ffff")
    deleted_user = with_id(event_from(envelope("user.deleted", USER, stamp, user_id=USER)), "0000")
    created_order = with_id(order(stamp, status="shipped"), "ffff")
    cancel = with_id(
        event_from(envelope("order.cancelled", ORDER, stamp, order_number="ORD-1")), "0000"
    )
    stream = [updated_user, deleted_user, created_order, cancel, updated_user, created_order]
    if batch:
        assert run(engine, *stream).stale == [4, 5]
    else:
        assert [run(engine, event).stale for event in stream] == [[], [], [], [], [0], [0]]
    assert one(engine, users)["deleted_at"] == datetime(2025, 1, 15, 10, 0, 5)
    assert one(engine, orders)["status"] == "cancelled"


def test_a_stale_product_does_not_replace_variants(engine: sa.Engine) -> None:
    run(engine, product("2025-01-15T10:00:05Z", ["new"]))
    assert run(engine, product("2025-01-15T10:00:01Z", ["old-1", "old-2"])).stale == [0]
    assert [row["variant_key"] for row in rows(engine, product_variants)] == ["new"]


def test_offsets_are_compared_as_instants(engine: sa.Engine) -> None:
    run(engine, user("2025-01-15T12:00:00+02:00", "At ten UTC"))
    assert one(engine, users)["event_timestamp"] == datetime(2025, 1, 15, 10, 0)
    # 10:30 in +02:00 is 08:30 UTC: older than the stored 10:00 UTC, hence stale.
    assert run(engine, user("2025-01-15T10:30:00+02:00", "Earlier")).stale == [0]
    assert run(engine, user("2025-01-15T05:30:00-05:00", "Later")).applied == [0]
    assert one(engine, users)["display_name"] == "Later"
    assert one(engine, users)["event_timestamp"] == datetime(2025, 1, 15, 10, 30)


def test_created_at_is_kept_from_the_first_insert(engine: sa.Engine) -> None:
    run(engine, user("2025-01-15T10:00:00Z"))
    later = envelope(
        "user.updated", USER, "2025-01-15T11:00:00Z", created_at="2030-01-01T00:00:00Z"
    )
    run(engine, event_from(later))
    assert one(engine, users)["created_at"] == datetime(2025, 1, 15, 10, 30, 1, 953078)


# --- deletes ---------------------------------------------------------------------------


def test_soft_delete_keeps_the_row_and_a_stale_snapshot_does_not_revive_it(
    engine: sa.Engine,
) -> None:
    run(engine, user("2025-01-15T10:00:00Z"))
    deleted = event_from(envelope("user.deleted", USER, "2025-01-15T11:00:00Z", user_id=USER))
    run(engine, deleted)
    assert one(engine, users)["deleted_at"] == datetime(2025, 1, 15, 11, 0)
    assert run(engine, user("2025-01-15T10:30:00Z")).stale == [0]
    assert one(engine, users)["deleted_at"] == datetime(2025, 1, 15, 11, 0)


def test_hard_delete_cascades_and_its_tombstone_stops_older_snapshots(engine: sa.Engine) -> None:
    run(engine, product("2025-01-15T10:00:00Z", ["a", "b"]))
    deleted = envelope("product.deleted", PRODUCT, "2025-01-15T11:00:00Z", product_id=PRODUCT)
    run(engine, event_from(deleted))
    assert rows(engine, products) == []
    assert rows(engine, product_variants) == []
    assert one(engine, tombstones)["deleted_at"] == datetime(2025, 1, 15, 11, 0)
    assert run(engine, product("2025-01-15T10:59:59Z", ["a"])).stale == [0]
    assert rows(engine, products) == []
    assert run(engine, product("2025-01-15T11:00:01Z", ["c"])).applied == [0]
    assert [row["variant_key"] for row in rows(engine, product_variants)] == ["c"]


def test_delete_and_recreate_in_one_batch_equals_one_by_one(engine: sa.Engine) -> None:
    deleted = event_from(
        envelope("product.deleted", PRODUCT, "2025-01-15T11:00:00Z", product_id=PRODUCT)
    )
    batch = [
        product("2025-01-15T10:00:00Z", ["a", "b"]),
        deleted,
        product("2025-01-15T12:00:00Z", ["b", "c"], created_at="2025-01-15T12:00:00Z"),
    ]
    run(engine, *batch)
    together = snapshot(engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    for event in batch:
        run(engine, event)
    assert snapshot(engine) == together
    assert one(engine, products)["created_at"] == datetime(2025, 1, 15, 12, 0)


@pytest.mark.parametrize(
    ("event_type", "id_field"), [("user.deleted", "user_id"), ("post.deleted", "post_id")]
)
def test_soft_delete_of_an_unknown_row_is_rejected(
    engine: sa.Engine, event_type: str, id_field: str
) -> None:
    entity = "ffffffffffffffffffffffff"
    event = event_from(envelope(event_type, entity, "2025-01-15T10:00:00Z", **{id_field: entity}))
    result = run(engine, event)
    (rejection,) = result.rejected
    assert rejection.error.reason is Reason.UNKNOWN_ENTITY
    assert entity in rejection.error.detail


def test_hard_delete_of_an_unknown_row_only_leaves_a_tombstone(engine: sa.Engine) -> None:
    supplier = "1dd377bf623d8eb7a4ca83b2"
    event = envelope("supplier.deleted", supplier, "2025-01-15T10:00:00Z", supplier_id=supplier)
    assert run(engine, event_from(event)).applied == [0]
    assert rows(engine, suppliers) == []
    assert one(engine, tombstones)["entity_id"] == supplier


# --- products and variants -------------------------------------------------------------


def test_variants_become_exactly_the_event_set(engine: sa.Engine) -> None:
    run(engine, product("2025-01-15T10:00:00Z", ["a", "b", "c"]))
    run(engine, product("2025-01-15T10:00:01Z", ["b", "d"]))
    assert [row["variant_key"] for row in rows(engine, product_variants)] == ["b", "d"]
    run(engine, product("2025-01-15T10:00:02Z", []))
    assert rows(engine, product_variants) == []


def test_keys_differing_in_case_accent_emoji_or_trailing_space_are_distinct(
    engine: sa.Engine,
) -> None:
    keys = ["Red", "red", "réd", "red ", "😀", "😃"]
    run(engine, product("2025-01-15T10:00:00Z", keys))
    stored = [row["variant_key"] for row in rows(engine, product_variants)]
    assert sorted(stored) == sorted(keys)


def test_four_byte_text_round_trips(engine: sa.Engine) -> None:
    name = "Zoë 😀 𝓯𝓪𝓷𝓬𝔂 中文"
    run(engine, user("2025-01-15T10:00:00Z", name))
    assert one(engine, users)["display_name"] == name


def test_ids_differing_only_in_case_are_two_users(engine: sa.Engine) -> None:
    run(
        engine,
        user("2025-01-15T10:00:00Z", "lower", entity_id="abcdef"),
        user("2025-01-15T10:00:00Z", "upper", entity_id="ABCDEF"),
    )
    assert sorted(row["display_name"] for row in rows(engine, users)) == ["lower", "upper"]


# --- orders ----------------------------------------------------------------------------


def test_a_replayed_order_moves_only_status_and_fulfillment(engine: sa.Engine) -> None:
    run(engine, order("2025-01-15T10:00:00Z"))
    replay = envelope("order.created", ORDER, "2025-01-15T11:00:00Z", order_number="ORD-1")
    replay["data"]["status"] = "shipped"
    replay["data"]["customer"]["display_name"] = "Someone Else"
    first_item = replay["data"]["items"][0]
    first_item.update(
        fulfillment_status="shipped",
        shipped_quantity=3,
        tracking_number="1Z999",
        carrier="UPS",
        shipped_at="2025-01-15T10:59:00+01:00",
        unit_price_cents=1,
        total_cents=1,
    )
    first_item["product_snapshot"]["product_name"] = "Renamed"
    new_item = copy.deepcopy(first_item)
    new_item["item_id"] = "item_3"
    replay["data"]["items"].append(new_item)
    run(engine, event_from(replay))

    stored = one(engine, orders)
    assert stored["status"] == "shipped"
    assert stored["customer_display_name"] == "Kwame Smith"
    assert stored["event_timestamp"] == datetime(2025, 1, 15, 11, 0)
    items = {row["item_id"]: row for row in rows(engine, order_items)}
    assert items["item_1"]["fulfillment_status"] == "shipped"
    assert items["item_1"]["shipped_at"] == datetime(2025, 1, 15, 9, 59)
    assert items["item_1"]["tracking_number"] == "1Z999"
    assert items["item_1"]["unit_price_cents"] == 8971
    assert items["item_1"]["total_cents"] == 26913
    assert items["item_1"]["product_name"] == "Handmade Scarf #504"
    assert items["item_2"]["fulfillment_status"] == "pending"
    assert items["item_3"]["total_cents"] == 1


def test_cancel_by_order_number(engine: sa.Engine) -> None:
    run(engine, order("2025-01-15T10:00:00Z", number="ORD-7"))
    cancel = envelope("order.cancelled", ORDER, "2025-01-15T10:05:00Z", order_number="ORD-7")
    assert run(engine, event_from(cancel)).applied == [0]
    assert one(engine, orders)["status"] == "cancelled"
    assert len(rows(engine, order_items)) == 2


def test_cancel_of_an_unknown_or_foreign_order_number_is_rejected(engine: sa.Engine) -> None:
    run(engine, order("2025-01-15T10:00:00Z", number="ORD-7"))
    unknown = envelope("order.cancelled", ORDER, "2025-01-15T10:05:00Z", order_number="ORD-8")
    foreign = envelope("order.cancelled", OTHER_ORDER, "2025-01-15T10:05:00Z", order_number="ORD-7")
    result = run(engine, event_from(unknown), event_from(foreign))
    assert [r.error.reason for r in result.rejected] == [Reason.KEY_CONFLICT, Reason.UNKNOWN_ENTITY]
    assert one(engine, orders)["status"] == "pending"


@pytest.mark.parametrize("same_batch", [True, False])
def test_an_order_number_owned_by_another_order_is_dead_lettered(
    engine: sa.Engine, same_batch: bool
) -> None:
    first = order("2025-01-15T10:00:00Z", ORDER, "ORD-SHARED")
    second = order("2025-01-15T10:00:01Z", OTHER_ORDER, "ORD-SHARED", status="shipped")
    later_user = user("2025-01-15T10:00:02Z")
    if same_batch:
        result = run(engine, first, second, later_user)
        rejected_index = 1
    else:
        run(engine, first)
        result = run(engine, second, later_user)
        rejected_index = 0
    (rejection,) = result.rejected
    assert rejection.index == rejected_index
    assert rejection.error.reason is Reason.KEY_CONFLICT
    assert ORDER in rejection.error.detail
    stored = one(engine, orders)
    assert (stored["order_id"], stored["status"]) == (ORDER, "pending")
    assert {row["order_id"] for row in rows(engine, order_items)} == {ORDER}
    assert len(rows(engine, users)) == 1


# --- failures --------------------------------------------------------------------------


def unvalidated_user(display_name: str | None) -> Event:
    """A user event built without validation, as if a model had missed a column's limit."""
    valid = user("2025-01-15T10:00:00Z", entity_id=USER)
    assert isinstance(valid, UserSnapshot)
    # Deliberately invalid values, so the constructor's types are bypassed on purpose.
    profile = UserProfile.model_construct(display_name=display_name)  # type: ignore[arg-type]
    data = UserDocument.model_construct(**{**dict(valid.data), "profile": profile})
    return UserSnapshot.model_construct(**{**dict(valid), "data": data})


def assert_only_the_middle_event_is_rejected(engine: sa.Engine, bad: Event) -> None:
    before = user("2025-01-15T10:00:00Z", "Fine", entity_id="aaaaaaaaaaaaaaaaaaaaaaaa")
    after = user("2025-01-15T10:00:01Z", "Also fine", entity_id="bbbbbbbbbbbbbbbbbbbbbbbb")
    result = run(engine, before, bad, after)
    (rejection,) = result.rejected
    assert rejection.index == 1
    assert rejection.error.reason is Reason.DATABASE_REJECTED
    assert result.applied == [0, 2]
    names = sorted(row["display_name"] for row in rows(engine, users))
    assert names == ["Also fine", "Fine"]


def test_a_row_the_server_refuses_is_rejected_and_the_rest_commits(engine: sa.Engine) -> None:
    assert_only_the_middle_event_is_rejected(engine, unvalidated_user(None))


def test_an_over_long_value_is_refused_never_truncated(mysql_only: sa.Engine) -> None:
    assert_only_the_middle_event_is_rejected(mysql_only, unvalidated_user("x" * 300))
    assert USER not in {row["user_id"] for row in rows(mysql_only, users)}


def test_a_batch_goes_to_the_server_as_a_few_multi_row_statements(engine: sa.Engine) -> None:
    batch = [user("2025-01-15T10:00:00Z", f"user {n}", entity_id=f"{n:024x}") for n in range(1500)]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert len(run(engine, *batch).applied) == 1500
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    writes = [sql for sql in statements if sql.lstrip().upper().startswith("INSERT")]
    assert 1 <= len(writes) <= 2
    assert len(statements) <= 10
    assert len(rows(engine, users)) == 1500


def test_json_at_the_nesting_limit_is_stored(engine: sa.Engine) -> None:
    media: Any = "leaf"
    for _ in range(31):
        media = [media]
    post = envelope("post.created", "1235c340b049ec373f63d83b", "2025-01-15T10:00:00Z", media=media)
    assert run(engine, event_from(post)).applied == [0]
    assert one(engine, posts)["media_json"] == media
