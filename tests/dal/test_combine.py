"""Folding an entity's changes within a batch: each rule on mapped samples, and on the
database, a batch that folds against the same events written one by one."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.dal import apply
from analytics.dal.combine import combine
from analytics.events import Event
from analytics.mapping import map_event
from analytics.mapping.ops import Change, Delete, Kind, Patch, ReplaceChildren, Upsert
from analytics.schema import metadata, order_items, orders, products, users
from tests.conftest import empty_tables
from tests.samples import event_from, sample_dict

USER = "ec99108ddb5b5fab8f4d3e27"
PRODUCT = "a104a795bd4aeab02891dd3c"
ORDER = "4d13472248e13ae354e3d0a9"


def envelope(event_type: str, entity_id: str, minute: int, **data: Any) -> dict[str, Any]:
    base = copy.deepcopy(sample_dict(event_type))
    stamp = f"2025-01-15T10:{minute:02d}:00Z"
    base.update(entity_id=entity_id, timestamp=stamp, event_id=str(uuid.uuid4()))
    if "id" in base["data"]:
        base["data"]["id"] = entity_id
    base["data"].update(data)
    return base


def user(minute: int, name: str, created_at: str = "2024-01-01T00:00:00Z") -> Event:
    base = envelope("user.created", USER, minute, created_at=created_at)
    base["data"]["profile"]["display_name"] = name
    return event_from(base)


def user_deleted(minute: int) -> Event:
    return event_from(envelope("user.deleted", USER, minute, user_id=USER))


def product(minute: int, variant_keys: Sequence[str], name: str = "Scarf") -> Event:
    base = envelope("product.created", PRODUCT, minute, name=name)
    variant = base["data"]["variants"]["xl-black"]
    base["data"]["variants"] = dict.fromkeys(variant_keys, variant)
    return event_from(base)


def product_deleted(minute: int) -> Event:
    return event_from(envelope("product.deleted", PRODUCT, minute, product_id=PRODUCT))


def order(minute: int, status: str, item_ids: Sequence[str], number: str = "ORD-1") -> Event:
    base = envelope("order.created", ORDER, minute, order_number=number, status=status)
    item = base["data"]["items"][0]
    base["data"]["items"] = [{**copy.deepcopy(item), "item_id": key} for key in item_ids]
    return event_from(base)


def order_cancelled(minute: int) -> Event:
    return event_from(envelope("order.cancelled", ORDER, minute, order_number="ORD-1"))


def combined(*events: Event) -> Change | None:
    changes = [map_event(event) for event in events]
    result: Change | None = changes[0]
    for change in changes[1:]:
        assert result is not None
        result = combine(result, change)
    return result


def only_upsert(change: Change | None, table: sa.Table) -> Upsert:
    assert change is not None
    (upsert,) = [op for op in change.ops if isinstance(op, Upsert) and op.table is table]
    return upsert


# --- the rules -------------------------------------------------------------------------


def test_two_snapshots_keep_insert_only_columns_of_the_first() -> None:
    upsert = only_upsert(
        combined(
            user(0, "First", "2024-01-01T00:00:00Z"), user(1, "Second", "2024-06-01T00:00:00Z")
        ),
        users,
    )
    assert upsert.row["display_name"] == "Second"
    assert upsert.row["created_at"].year == 2024
    assert upsert.row["created_at"].month == 1
    assert upsert.update == map_event(user(0, "x")).ops[0].update  # type: ignore[union-attr]


def test_a_patch_after_a_snapshot_folds_into_its_upsert() -> None:
    change = combined(user(0, "First"), user_deleted(1))
    assert change is not None
    assert change.kind is Kind.SNAPSHOT
    upsert = only_upsert(change, users)
    assert upsert.row["deleted_at"] is not None
    assert upsert.row["event_timestamp"] == change.timestamp
    assert len(change.ops) == 1


def test_the_later_of_two_patches_wins() -> None:
    first, second = user_deleted(0), user_deleted(1)
    change = combined(first, second)
    assert change is not None
    assert change.kind is Kind.PATCH
    (patch,) = change.ops
    assert isinstance(patch, Patch)
    assert patch.values["event_id"] == second.event_id
    assert patch.values["deleted_at"] == second.timestamp


def test_a_delete_replaces_whatever_came_before() -> None:
    delete = product_deleted(2)
    assert combined(product(0, ["a"]), product(1, ["b"]), delete) == map_event(delete)


@pytest.mark.parametrize(
    "events",
    [
        pytest.param((product_deleted(0), product(1, ["a"])), id="delete-then-snapshot"),
        pytest.param((user_deleted(0), user(1, "Back")), id="patch-then-snapshot"),
    ],
)
def test_changes_that_must_stay_apart(events: tuple[Event, Event]) -> None:
    assert combined(*events) is None


def test_the_later_variant_set_replaces_the_earlier() -> None:
    change = combined(product(0, ["a", "b"]), product(1, ["b", "c"], name="Renamed"))
    assert change is not None
    assert only_upsert(change, products).row["name"] == "Renamed"
    (children,) = [op for op in change.ops if isinstance(op, ReplaceChildren)]
    assert [row["variant_key"] for row in children.rows] == ["b", "c"]


def test_order_items_fold_by_key_and_accumulate() -> None:
    change = combined(order(0, "pending", ["i1", "i2"]), order(1, "shipped", ["i2", "i3"]))
    assert change is not None
    assert only_upsert(change, orders).row["status"] == "shipped"
    items = [
        op.row["item_id"] for op in change.ops if isinstance(op, Upsert) and op.table is order_items
    ]
    assert items == ["i1", "i2", "i3"]


def test_a_delete_op_never_folds_into_a_non_delete_change() -> None:
    snapshot = map_event(user(0, "First"))
    odd = Change(
        users, USER, snapshot.timestamp, Kind.SNAPSHOT, (Delete(users, USER),), event_id="odd"
    )
    assert combine(snapshot, odd) is None


# --- on the database: a folded batch equals the same events one by one -------------------


def tables(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(
                (
                    tuple(row)
                    for row in connection.execute(
                        sa.select(*(c for c in table.columns if c.name != "id"))
                    )
                ),
                key=repr,
            )
            for table in metadata.sorted_tables
        }


def run_each(engine: sa.Engine, batches: Sequence[Sequence[Event]]) -> dict[str, Any]:
    empty_tables(engine)
    for batch in batches:
        with engine.begin() as connection:
            apply(connection, batch)
    return tables(engine)


@pytest.mark.parametrize(
    ("before", "batch"),
    [
        pytest.param([], [user(0, "A"), user(1, "B"), user_deleted(2)], id="new-user"),
        pytest.param([user(0, "A")], [user_deleted(1), user_deleted(2)], id="two-patches"),
        pytest.param([user(0, "A")], [user(1, "B", "2030-01-01T00:00:00Z")], id="insert-only"),
        pytest.param(
            [product(0, ["a", "b"])],
            [product(1, ["b", "c"]), product(2, ["c", "d"], "Renamed")],
            id="variants",
        ),
        pytest.param(
            [product(0, ["a"])],
            [product_deleted(1), product(2, ["b"]), product(3, ["c"]), product_deleted(4)],
            id="delete-recreate-delete",
        ),
        pytest.param(
            [order(0, "pending", ["i1"])],
            [order(1, "paid", ["i1", "i2"]), order(2, "shipped", ["i2"]), order_cancelled(3)],
            id="order",
        ),
    ],
)
def test_a_folded_batch_equals_one_by_one(
    engine: sa.Engine, before: list[Event], batch: list[Event]
) -> None:
    folded = run_each(engine, [before, batch])
    one_by_one = run_each(engine, [before, *([event] for event in batch)])
    assert folded == one_by_one
    assert any(folded.values())


def test_a_patch_of_an_insert_only_column_stays_apart() -> None:
    snapshot = map_event(user(0, "First"))
    patch = Patch(users, USER, {"created_at": snapshot.timestamp})
    later = Change(users, USER, snapshot.timestamp, Kind.PATCH, (patch,), event_id="later")
    assert combine(snapshot, later) is None


def test_children_with_insert_only_columns_stay_apart() -> None:
    earlier = map_event(product(0, ["a"]))
    children = next(op for op in earlier.ops if isinstance(op, ReplaceChildren))
    keeps_price = dataclasses.replace(
        children, update=tuple(name for name in children.update if name != "price_cents")
    )
    later = dataclasses.replace(earlier, ops=(earlier.ops[0], keeps_price))
    assert combine(earlier, later) is None
