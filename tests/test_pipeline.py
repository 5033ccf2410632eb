"""A batch of raw messages: valid ones applied, the rest dead-lettered, in one transaction."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.deadletters import Source, message_hash
from analytics.dlq import replay
from analytics.pipeline import GC_THRESHOLDS, process_batch, tune_garbage_collector
from analytics.schema import dead_letters, products, tombstones, users
from analytics.secrets import DEFAULT_SECRETS, secret_names
from producer_sim import generate
from tests.leaks import (
    SAMPLE_SECRETS,
    SECRET_FIELDS,
    corpus,
    found_in_tables,
    found_in_text,
    oversized,
    valid,
)
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
        outcome = process_batch(connection, batch, NOW, DEFAULT_SECRETS)
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
                connection,
                [message(1, b"junk"), message(2, sample_bytes("user.created"))],
                NOW,
                DEFAULT_SECRETS,
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
        outcome = process_batch(
            connection, [message(1, soon), message(2, later)], now, DEFAULT_SECRETS
        )
    assert outcome.applied == 1
    assert outcome.reasons == {"future_timestamp": 1}
    (letter,) = outcome.dead_letters
    assert "2025-01-16T09:30:00Z" in letter.error.detail

    replayed = replay(engine, secrets=DEFAULT_SECRETS, now=datetime(2025, 1, 16, 8, 20))
    assert replayed.still_failing == 1  # 09:30 is still more than an hour ahead
    assert replay(engine, secrets=DEFAULT_SECRETS, now=datetime(2025, 1, 16, 8, 30)).replayed == 1
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
        outcome = process_batch(connection, batch, now, DEFAULT_SECRETS)
    assert outcome.reasons == {"future_timestamp": 1}
    assert outcome.applied == 1
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(tombstones)).scalar() == 0
        assert connection.execute(sa.select(sa.func.count()).select_from(products)).scalar() == 1


def test_the_skew_is_a_parameter(engine: sa.Engine) -> None:
    now = datetime(2025, 1, 16, 8, 0)
    ahead = stamped("user.created", "2025-01-16T08:00:02Z")
    with engine.begin() as connection:
        strict = process_batch(
            connection, [message(1, ahead)], now, DEFAULT_SECRETS, timedelta(seconds=1)
        )
    assert strict.reasons == {"future_timestamp": 1}


def test_no_secret_of_the_corpus_reaches_any_table(engine: sa.Engine) -> None:
    leaks = [*corpus(), oversized()]
    first = [Source(topic, 1, n, key, value) for n, (topic, key, value) in enumerate(valid())]
    letters = [Source(leak.topic, 0, n, leak.key, leak.value) for n, leak in enumerate(leaks)]
    batch = first + letters
    with engine.begin() as connection:
        outcome = process_batch(connection, batch, NOW, secret_names(SECRET_FIELDS))
    assert outcome.applied == len(first)
    secrets = [leak.secret for leak in leaks] + SAMPLE_SECRETS
    assert found_in_tables(engine, secrets) == []
    for letter in outcome.dead_letters:  # what the consumer logs
        assert found_in_text(letter.error.detail.encode(), secrets) == [], letter.error.detail
    stored = {
        row["kafka_offset"]: row for row in letter_rows(engine) if row["kafka_partition"] == 0
    }
    assert len(stored) == len(leaks)
    for offset, leak in enumerate(leaks):
        row = stored[offset]
        assert row["message_hash"] == message_hash(letters[offset]), leak.name
        assert row["message_bytes"] == len(leak.value), leak.name
        assert (row["raw_value"] is not None) is leak.kept, (leak.name, row["reason"])
        assert leak.kept or "; raw value not kept: " in row["reason"], leak.name
        assert row["kafka_key"] == (leak.key if leak.key_kept else None), leak.name
        assert leak.key_kept or "; Kafka key not kept: " in row["reason"], leak.name


def letter_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(dead_letters)).mappings()]


def test_a_message_too_large_to_keep_is_a_letter_of_its_hash_and_size(engine: sa.Engine) -> None:
    """20 MB is more than a statement may carry: keeping it would fail the batch forever."""
    document = sample_dict("user.created")
    document["data"]["profile"]["bio"] = "b" * (20 * 1024 * 1024)
    huge = Source("user", 0, 2, None, encode(document))
    batch = [message(1, sample_bytes("user.created")), huge, message(3, b"not json")]
    with engine.begin() as connection:
        outcome = process_batch(connection, batch, NOW, DEFAULT_SECRETS)
    assert (outcome.applied, len(outcome.dead_letters)) == (1, 2)
    rows = {row["kafka_offset"]: row for row in letter_rows(engine)}
    assert rows[3]["raw_value"] == b"not json"
    assert rows[2]["raw_value"] is None
    assert (rows[2]["message_bytes"], rows[2]["message_hash"]) == (
        len(huge.value or b""),
        message_hash(huge),
    )
    assert rows[2]["reason"].endswith(
        f"; raw value not kept: {len(huge.value or b'')} bytes is more than the"
        f" {4 * 1024 * 1024} a dead letter keeps"
    )


def test_configured_secret_fields_are_never_shown_in_reasons(engine: sa.Engine) -> None:
    unknown = sample_dict("user.deleted")
    unknown["entity_id"] = unknown["data"]["user_id"] = "pin-code:1234"
    wrong_type = sample_dict("user.created")
    wrong_type["event_type"] = "user.pin-code:1234"
    batch = [message(1, encode(unknown)), message(2, encode(wrong_type))]
    reasons = {}
    for secrets in (DEFAULT_SECRETS, secret_names(SECRET_FIELDS)):
        with engine.begin() as connection:
            outcome = process_batch(connection, batch, NOW, secrets)
        reasons[len(secrets)] = [letter.error.detail for letter in outcome.dead_letters]
    assert reasons[len(DEFAULT_SECRETS)] == [
        "users row pin-code:1234 does not exist",
        "unknown event_type user.pin-code:1234",
    ]
    assert reasons[len(SECRET_FIELDS)] == [
        "users row <13 characters> does not exist",
        "unknown event_type <18 characters>",
    ]


def test_the_outcome_names_the_newest_applied_event_time_per_topic(engine: sa.Engine) -> None:
    created = sample_dict("user.created")
    updated = {**sample_dict("user.updated"), "timestamp": "2025-01-15T12:00:00Z"}
    stale = {
        **sample_dict("user.updated"),
        "event_id": "stale",
        "timestamp": "2025-01-15T11:00:00Z",
    }
    batch = [message(1, encode(created)), message(2, encode(updated)), message(3, encode(stale))]
    with engine.begin() as connection:
        outcome = process_batch(connection, batch, NOW, DEFAULT_SECRETS)
    assert (outcome.applied, outcome.stale) == (2, 1)
    assert outcome.newest_event_time == {"user": datetime(2025, 1, 15, 12, 0)}


@pytest.fixture
def collector_left_to_the_test() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_left_to_the_test")
def test_batches_leave_less_cyclic_garbage_than_one_object_per_event(engine: sa.Engine) -> None:
    """What lets the service run the collector rarely (`tune_garbage_collector`): a cycle
    made per event or per row would hold memory until the next collection."""
    events = 1000
    stream = [Source(m.topic, 0, n, m.key, m.value) for n, m in enumerate(generate(7, 3 * events))]
    now = datetime(2100, 1, 1)
    with engine.begin() as connection:  # compiles and caches what every batch reuses
        process_batch(connection, stream[:events], now, DEFAULT_SECRETS)
    gc.collect()
    for start in (events, 2 * events):
        with engine.begin() as connection:
            outcome = process_batch(
                connection, stream[start : start + events], now, DEFAULT_SECRETS
            )
        assert outcome.applied > 0
        assert gc.collect() < events


def test_tuning_the_collector_raises_its_thresholds() -> None:
    thresholds = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
