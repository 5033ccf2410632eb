"""Two writers of the same rows: the one the server sacrifices sees the real error, and
whatever the interleaving, the newest version of each entity wins."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.dal import apply, statements
from analytics.dal.apply import load_state, write
from analytics.dal.plan import Plan, plan
from analytics.dal.versions import Version
from analytics.db import create_engine, mysql_error_code
from analytics.events import Event
from analytics.mapping import map_event
from analytics.schema import order_items, orders, product_variants, products, tombstones, users
from tests.conftest import empty_tables
from tests.dal.test_combine import USER, user
from tests.samples import event_from, sample_dict

DEADLOCK = 1213
OTHER_USER = "ff99108ddb5b5fab8f4d3e27"  # sorts after USER, so apply locks it second


def other_user() -> Event:
    base = sample_dict("user.created")
    base.update(entity_id=OTHER_USER, timestamp="2025-01-15T10:00:00Z")
    base["data"]["id"] = OTHER_USER
    return event_from(base)


def tombstone(n: int) -> dict[str, Any]:
    return {
        "entity_table": "suppliers",
        "entity_id": f"{n:024d}",
        "deleted_at": datetime(2025, 1, 1),
        "event_id": f"{n:036d}",
    }


def lock(connection: sa.Connection, key: str) -> None:
    connection.execute(sa.select(users.c.user_id).where(users.c.user_id == key).with_for_update())


def test_a_deadlock_reaches_the_caller_as_a_deadlock(mysql_only: sa.Engine) -> None:
    with mysql_only.begin() as connection:
        apply(connection, [user(0, "A"), other_user()])
    caught: list[BaseException] = []

    def batch_writer() -> None:
        try:
            with mysql_only.begin() as connection:
                apply(connection, [user(5, "B"), other_user()])  # locks USER, then OTHER_USER
        except BaseException as exc:
            caught.append(exc)

    with mysql_only.connect() as holder:
        holder.begin()
        # Heavier than the batch (it wrote rows), so the server sacrifices the batch.
        holder.execute(sa.insert(tombstones), [tombstone(n) for n in range(20)])
        lock(holder, OTHER_USER)
        writer = threading.Thread(target=batch_writer)
        writer.start()
        time.sleep(0.5)  # the batch now holds USER and waits for OTHER_USER
        lock(holder, USER)
        holder.rollback()
    writer.join(10)

    (error,) = caught
    assert isinstance(error, sa.exc.DBAPIError)
    assert error.orig is not None
    assert error.orig.args[0] == DEADLOCK, error


# --- Two writers of the same new entities converge to the newest version ---------------
#
# A locking read locks nothing for a row that does not exist yet (READ COMMITTED takes no
# gap locks), so two writers of one new entity can both plan against "absent". (SQLite
# runs one writer at a time, so only MySQL/MariaDB can interleave them.) The write
# statements' own version guard, and the check of what the writer achieved, must still
# leave the newest version and its children.

PRODUCT = "a104a795bd4aeab02891dd3c"
ORDER = "4d13472248e13ae354e3d0a9"
OLD, NEW = "2025-01-15T10:00:00Z", "2025-01-15T10:00:05Z"


def envelope(event_type: str, entity_id: str, stamp: str, event_id: str) -> dict[str, Any]:
    base = sample_dict(event_type)
    base.update(entity_id=entity_id, timestamp=stamp, event_id=event_id)
    if "id" in base["data"]:
        base["data"]["id"] = entity_id
    return base


def product(key: str, stamp: str, name: str, variant_keys: Sequence[str]) -> Event:
    base = envelope("product.created", key, stamp, f"{name}-{key}")
    variant = next(iter(base["data"]["variants"].values()))
    base["data"]["name"] = name
    base["data"]["variants"] = dict.fromkeys(variant_keys, variant)
    return event_from(base)


def order(stamp: str, status: str, item_ids: Sequence[str]) -> Event:
    base = envelope("order.created", ORDER, stamp, f"{status}-order")
    item = base["data"]["items"][0]
    base["data"]["status"] = status
    base["data"]["items"] = [{**item, "item_id": item_id} for item_id in item_ids]
    return event_from(base)


def planned_on_absent_rows(engine: sa.Engine, events: Sequence[Event]) -> tuple[Any, Plan]:
    """A writer that has read and planned, and now pauses before writing."""
    connection = engine.connect()
    connection.begin()
    changes = [map_event(event) for event in events]
    return connection, plan(changes, load_state(connection, changes))


def finish(connection: sa.Connection, planned: Plan) -> None:
    write(connection, planned)
    connection.commit()
    connection.close()


def state_of(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {
            "products": sorted(
                tuple(row)
                for row in connection.execute(
                    sa.select(products.c.product_id, products.c.name, products.c.event_timestamp)
                )
            ),
            "variants": sorted(
                tuple(row)
                for row in connection.execute(
                    sa.select(product_variants.c.product_id, product_variants.c.variant_key)
                )
            ),
            "orders": sorted(tuple(row) for row in connection.execute(sa.select(orders.c.status))),
            "items": sorted(
                tuple(row) for row in connection.execute(sa.select(order_items.c.item_id))
            ),
        }


NEWEST = {
    "products": [(PRODUCT, "new", datetime(2025, 1, 15, 10, 0, 5))],
    "variants": [(PRODUCT, "new-a")],
    "orders": [("shipped",)],
    "items": [("item-new",)],
}


def test_an_older_writer_that_read_before_a_newer_one_committed_changes_nothing(
    mysql_only: sa.Engine,
) -> None:
    paused, planned = planned_on_absent_rows(
        mysql_only,
        [product(PRODUCT, OLD, "old", ["old-a", "old-b"]), order(OLD, "pending", ["item-old"])],
    )
    with mysql_only.begin() as connection:
        apply(
            connection,
            [product(PRODUCT, NEW, "new", ["new-a"]), order(NEW, "shipped", ["item-new"])],
        )
    finish(paused, planned)
    assert state_of(mysql_only) == NEWEST


def test_a_newer_writer_that_read_before_an_older_one_committed_replaces_it(
    mysql_only: sa.Engine,
) -> None:
    paused, planned = planned_on_absent_rows(
        mysql_only, [product(PRODUCT, NEW, "new", ["new-a"]), order(NEW, "shipped", ["item-new"])]
    )
    with mysql_only.begin() as connection:
        apply(connection, [product(PRODUCT, OLD, "old", ["old-a", "old-b"])])
    finish(paused, planned)
    expected = {**NEWEST, "items": [("item-new",)]}
    assert state_of(mysql_only) == expected


def test_a_snapshot_planned_before_a_concurrent_delete_does_not_resurrect_the_row(
    mysql_only: sa.Engine,
) -> None:
    paused, planned = planned_on_absent_rows(mysql_only, [product(PRODUCT, OLD, "old", ["old-a"])])
    deleted = envelope("product.deleted", PRODUCT, NEW, "delete")
    deleted["data"] = {"product_id": PRODUCT}
    with mysql_only.begin() as connection:
        apply(connection, [event_from(deleted)])
    finish(paused, planned)
    assert state_of(mysql_only)["products"] == []
    assert state_of(mysql_only)["variants"] == []


def test_a_snapshot_planned_before_a_concurrent_soft_delete_does_not_undo_it(
    engine: sa.Engine,
) -> None:
    created = envelope("user.created", USER, OLD, "created")
    with engine.begin() as connection:
        apply(connection, [event_from(created)])
    updated = envelope("user.updated", USER, OLD, "updated-at-the-same-instant")
    with engine.connect() as connection, connection.begin():
        changes = [map_event(event_from(updated))]
        planned = plan(changes, load_state(connection, changes))
    # The row existed, so a real writer would hold its lock; this one let it go, to show
    # that the statement's guard alone keeps the newer version.
    deleted = envelope("user.deleted", USER, OLD, "deleted")
    deleted["data"] = {"user_id": USER}
    with engine.begin() as connection:
        apply(connection, [event_from(deleted)])
    with engine.begin() as connection:
        write(connection, planned)
    with engine.connect() as connection:
        row = connection.execute(sa.select(users.c.deleted_at, users.c.event_id)).one()
    assert tuple(row) == (datetime(2025, 1, 15, 10, 0), "deleted")


# Two processes, each applying one version of the same new products, started together.

PRODUCTS = 2000
ROUNDS = 5


def _write_version(url: str, stamp: str, name: str, keys: list[str], start: Any) -> None:
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    variant_keys = ["new-a"] if name == "new" else ["old-a", "old-b"]
    events = [product(key, stamp, name, variant_keys) for key in keys]
    start.wait(30)
    for first in range(0, len(events), 250):
        batch = events[first : first + 250]
        for attempt in range(20):
            try:
                with engine.begin() as connection:
                    apply(connection, batch)
                break
            except (
                sa.exc.OperationalError
            ) as exc:  # deadlock or lock wait: retry, as the service does
                if attempt == 19 or mysql_error_code(exc) not in (1205, 1213):
                    raise
    engine.dispose()


def test_two_processes_writing_old_and_new_versions_converge_to_the_new(
    mysql_only: sa.Engine, mysql_url: str
) -> None:
    keys = [f"{n:024x}" for n in range(PRODUCTS)]
    context = multiprocessing.get_context("spawn")
    for _round in range(ROUNDS):
        empty_tables(mysql_only)
        start = context.Event()
        writers = [
            context.Process(target=_write_version, args=(mysql_url, stamp, name, keys, start))
            for stamp, name in ((OLD, "old"), (NEW, "new"))
        ]
        for writer in writers:
            writer.start()
        start.set()
        for writer in writers:
            writer.join(120)
            assert writer.exitcode == 0
        with mysql_only.connect() as connection:
            names = Counter(connection.execute(sa.select(products.c.name)).scalars())
            variant_keys = Counter(
                connection.execute(sa.select(product_variants.c.variant_key)).scalars()
            )
        assert names == {"new": PRODUCTS}
        assert variant_keys == {"new-a": PRODUCTS}


# --- writers of disjoint rows never wait for each other ---------------------------------

ROWS = 60
HELD = 7  # the one row another transaction holds; the statements ask for every other one


def key(n: int) -> str:
    return f"{n:024x}"


def order_number(n: int) -> str:
    return f"ORD-{n:04d}"


def seed_small_tables(engine: sa.Engine) -> None:
    events = []
    for n in range(ROWS):
        order_envelope = envelope("order.created", key(n), OLD, f"order-{n}")
        order_envelope["data"]["order_number"] = order_number(n)
        events += [
            event_from(envelope("product.created", key(n), OLD, f"p-{n}")),
            event_from(order_envelope),
        ]
    with engine.begin() as connection:
        apply(connection, events)
        connection.execute(sa.insert(tombstones), [tombstone(n) for n in range(ROWS)])


def hold_one_row_of_each_table(connection: sa.Connection) -> None:
    """What another consumer's open transaction holds: rows of its own entities."""
    connection.execute(
        sa.update(products).where(products.c.product_id == key(HELD)).values(name="held")
    )
    connection.execute(
        sa.update(product_variants)
        .where(product_variants.c.product_id == key(HELD))
        .values(variant_name="held")
    )
    connection.execute(
        sa.update(orders).where(orders.c.order_id == key(HELD)).values(status="held")
    )
    connection.execute(
        sa.update(tombstones)
        .where(tombstones.c.entity_id == tombstone(HELD)["entity_id"])
        .values(event_id="held")
    )


def others(make: Callable[[int], str]) -> list[str]:
    return [make(n) for n in range(ROWS) if n != HELD]


def variant_ids_but_the_held(connection: sa.Connection) -> list[int]:
    query = sa.select(product_variants.c.id).where(product_variants.c.product_id != key(HELD))
    return list(connection.execute(query).scalars())


NEWER = Version(datetime(2030, 1, 1), 1, "z")
LOCKING_STATEMENTS: dict[str, Callable[[sa.Connection], object]] = {
    "version reads": lambda c: statements.read_versions(c, products, others(key), None, []),
    "claim reads": lambda c: statements.read_versions(
        c, orders, [], "order_number", others(order_number)
    ),
    "written version reads": lambda c: statements.read_written_versions(c, products, others(key)),
    "tombstone reads": lambda c: statements.read_tombstones(
        c, tombstones, "suppliers", others(lambda n: str(tombstone(n)["entity_id"])), lock=True
    ),
    "deletes by id": lambda c: statements.delete_by_ids(
        c, product_variants, variant_ids_but_the_held(c)
    ),
    "versioned deletes": lambda c: statements.delete_versioned(
        c, products, [(k, NEWER) for k in others(key)]
    ),
}


@pytest.mark.parametrize("name", LOCKING_STATEMENTS)
def test_statements_for_most_of_a_small_table_do_not_wait_for_a_row_they_skip(
    mysql_only: sa.Engine, name: str
) -> None:
    """Asked for every row but one, the optimizer would scan the table, waiting for the
    lock on the one other consumer's row; reads and deletes go through the key instead."""
    seed_small_tables(mysql_only)
    with mysql_only.connect() as holder, mysql_only.connect() as writer:
        holder.begin()
        hold_one_row_of_each_table(holder)
        writer.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")  # begins
        try:
            LOCKING_STATEMENTS[name](writer)
            failed = None
        except sa.exc.OperationalError as error:  # 1205 when it waited for the held row
            failed = error
        finally:
            writer.rollback()
            holder.rollback()
    assert failed is None, f"{name}: {failed}"
