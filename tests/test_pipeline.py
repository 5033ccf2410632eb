"""A batch of raw messages: valid ones applied, the rest dead-lettered, in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from analytics.deadletters import Source
from analytics.dlq import replay
from analytics.pipeline import process_batch
from analytics.schema import dead_letters, products, tombstones, users
from tests.samples import encode, sample_bytes, sample_dict

NOW = datetime(2025, 1, 16, 8, 0)


def message(offset: int, value: bytes | None) -> Source:
    return Source("user", 0, offset, b"key", value)


def test_valid_messages_apply_and_the_rest_become_dead_letters(engine: sa.Engine) -> None:
    batch = [
        message(10, b"\x00\xff"),
        message(11, sample_bytes("user.created")),
        message(12, None),
        message(13, sample_bytes("user.deleted")),
        message(14, sample_bytes("user.updated")),
    ]
    with engine.begin() as connection:
        outcome = process_batch(connection, batch, NOW)
    assert (outcome.applied, outcome.stale) == (2, 0)
    assert outcome.reasons == {"undecodable": 2, "unknown_entity": 1}
    with engine.connect() as connection:
        assert connection.execute(sa.select(users.c.display_name)).scalar_one() == "Li Rossi"
        stored = connection.execute(
            sa.select(dead_letters.c.kafka_offset, dead_letters.c.error_class).order_by(
                dead_letters.c.kafka_offset
            )
        ).all()
    assert [tuple(row) for row in stored] == [
        (10, "undecodable"),
        (12, "undecodable"),
        (13, "unknown_entity"),
    ]


def test_a_rolled_back_batch_leaves_neither_rows_nor_dead_letters(engine: sa.Engine) -> None:
    class Crash(Exception):
        pass

    try:
        with engine.begin() as connection:
            process_batch(
                connection, [message(1, b"junk"), message(2, sample_bytes("user.created"))], NOW
            )
            raise Crash
    except Crash:
        pass
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 0
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar() == 0
        )


# --- event time ----------------------------------------------------------------------------


def stamped(event_type: str, timestamp: str) -> bytes:
    envelope = sample_dict(event_type)
    envelope["timestamp"] = timestamp
    return encode(envelope)


def test_an_event_from_the_future_is_dead_lettered_and_replays_once_its_time_has_come(
    engine: sa.Engine,
) -> None:
    now = datetime(2025, 1, 16, 8, 0)
    soon = stamped("user.created", "2025-01-16T08:59:00Z")  # within the hour of skew
    later = stamped("user.updated", "2025-01-16T09:30:00Z")
    with engine.begin() as connection:
        outcome = process_batch(connection, [message(1, soon), message(2, later)], now)
    assert outcome.applied == 1
    assert outcome.reasons == {"future_timestamp": 1}
    (letter,) = outcome.dead_letters
    assert "2025-01-16T09:30:00Z" in letter.error.detail

    replayed = replay(engine, now=datetime(2025, 1, 16, 8, 20))
    assert replayed.still_failing == 1  # 09:30 is still more than an hour ahead
    assert replay(engine, now=datetime(2025, 1, 16, 8, 30)).replayed == 1
    with engine.connect() as connection:
        stamp = connection.execute(sa.select(users.c.event_timestamp)).scalar_one()
    assert stamp == datetime(2025, 1, 16, 9, 30)


def test_a_delete_stamped_far_in_the_future_cannot_tombstone_its_entity(
    engine: sa.Engine,
) -> None:
    now = datetime(2025, 1, 16, 8, 0)
    forever = stamped("product.deleted", "9999-12-31T23:59:59Z")
    created = stamped("product.created", "2025-01-16T07:00:00Z")
    with engine.begin() as connection:
        batch = [Source("product", 0, 1, None, forever), Source("product", 0, 2, None, created)]
        outcome = process_batch(connection, batch, now)
    assert outcome.reasons == {"future_timestamp": 1}
    assert outcome.applied == 1
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(tombstones)).scalar() == 0
        assert connection.execute(sa.select(sa.func.count()).select_from(products)).scalar() == 1


def test_the_skew_is_a_parameter(engine: sa.Engine) -> None:
    now = datetime(2025, 1, 16, 8, 0)
    ahead = stamped("user.created", "2025-01-16T08:00:02Z")
    with engine.begin() as connection:
        strict = process_batch(connection, [message(1, ahead)], now, timedelta(seconds=1))
    assert strict.reasons == {"future_timestamp": 1}
