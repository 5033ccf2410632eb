"""Two writers of the same rows: the one the server sacrifices sees the real error."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from analytics.dal import apply
from analytics.events import Event
from analytics.schema import tombstones, users
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
