"""A batch of raw messages: valid ones applied, the rest dead-lettered, in one transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from analytics.deadletters import Source
from analytics.pipeline import process_batch
from analytics.schema import dead_letters, users
from tests.samples import sample_bytes

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
