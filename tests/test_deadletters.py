"""Dead letters are stored once per offset, with secrets removed."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from analytics.deadletters import REDACTED, DeadLetter, Source, envelope_labels, record, redact
from analytics.errors import InvalidEvent, Reason
from analytics.schema import dead_letters
from tests.samples import sample_bytes

HASH = "$2b$12$secretsecretsecretsecretsecret"


def test_redact_replaces_secret_fields_at_any_depth() -> None:
    raw = sample_bytes("supplier.created")
    redacted = redact(raw)
    assert redacted is not None
    assert HASH.encode() not in redacted
    assert b"First Bank" not in redacted
    document = json.loads(redacted)
    assert document["data"]["password_hash"] == REDACTED
    assert document["data"]["banking_info"] == REDACTED
    assert document["data"]["company_info"]["legal_name"] == "Rossi Crafts LLC"


def test_redact_leaves_messages_without_secrets_byte_for_byte() -> None:
    raw = sample_bytes("order.created")
    assert redact(raw) == raw
    assert redact(b"\xff\x00not json") == b"\xff\x00not json"
    assert redact(None) is None


def test_redact_drops_the_rest_of_an_unparseable_message_after_a_secret() -> None:
    raw = b'{"event_type": "user.created", "data": {"password_hash": "' + HASH.encode() + b'", '
    redacted = redact(raw)
    assert redacted is not None
    assert HASH.encode() not in redacted
    assert redacted.startswith(b'{"event_type": "user.created", "data": {')


def test_labels_come_from_the_envelope_when_present() -> None:
    labels = envelope_labels(sample_bytes("user.created"))
    assert labels == {
        "event_type": "user.created",
        "event_id": "78511608-0d65-4372-a907-94dfed52a241",
        "entity_id": "ec99108ddb5b5fab8f4d3e27",
    }
    assert envelope_labels(b"[1]") == {"event_type": None, "event_id": None, "entity_id": None}
    assert envelope_labels(b'{"event_type": 5}')["event_type"] is None


def test_a_dead_letter_is_stored_once_per_offset_without_secrets(engine: sa.Engine) -> None:
    source = Source(
        "supplier", 3, 42, b"6b77730f65bd9acbb57a6a1d", sample_bytes("supplier.created")
    )
    first = DeadLetter(source, InvalidEvent(Reason.INVALID_PAYLOAD, "first try"))
    again = DeadLetter(source, InvalidEvent(Reason.DATABASE_REJECTED, "second try"))
    with engine.begin() as connection:
        record(connection, [first], datetime(2025, 1, 1, 10))
    with engine.begin() as connection:
        record(connection, [again], datetime(2025, 1, 1, 11))
    with engine.connect() as connection:
        (row,) = connection.execute(sa.select(dead_letters)).mappings().all()
    assert (row["topic"], row["kafka_partition"], row["kafka_offset"]) == ("supplier", 3, 42)
    assert row["kafka_key"] == b"6b77730f65bd9acbb57a6a1d"
    assert row["event_type"] == "supplier.created"
    assert row["error_class"] == "database_rejected"
    assert row["reason"] == "second try"
    assert row["first_failed_at"] == datetime(2025, 1, 1, 10)
    assert row["last_failed_at"] == datetime(2025, 1, 1, 11)
    assert row["status"] == "pending"
    assert HASH.encode() not in row["raw_value"]
    assert b"First Bank" not in row["raw_value"]


def test_encoded_surrogates_and_escaped_ones_are_stored_safely(engine: sa.Engine) -> None:
    secret = b'"password_hash": "' + HASH.encode() + b'"'
    raw_surrogate = b'{"event_type": "user.created\xed\xa0\x80", ' + secret + b"}"
    escaped_surrogate = b'{"event_type": "user.\\ud800", ' + secret + b"}"
    letters = [
        DeadLetter(Source("user", 0, n, None, raw), InvalidEvent(Reason.UNDECODABLE, "bad"))
        for n, raw in enumerate([raw_surrogate, escaped_surrogate])
    ]
    with engine.begin() as connection:
        record(connection, letters, datetime(2025, 1, 1))
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(dead_letters.c.event_type, dead_letters.c.raw_value).order_by(
                dead_letters.c.kafka_offset
            )
        ).all()
    assert [row.event_type for row in stored] == [None, None]
    assert all(HASH.encode() not in row.raw_value for row in stored)


def test_messages_nested_beyond_the_recursion_limit_are_stored_safely(engine: sa.Engine) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    secret = b'{"password_hash": "' + HASH.encode() + b'", "x": ' + b"[" * 600 + b"]" * 600 + b"}"
    letters = [
        DeadLetter(Source("user", 0, n, None, raw), InvalidEvent(Reason.UNDECODABLE, "deep"))
        for n, raw in enumerate([deep, secret])
    ]
    with engine.begin() as connection:
        record(connection, letters, datetime(2025, 1, 1))
    with engine.connect() as connection:
        stored = (
            connection.execute(
                sa.select(dead_letters.c.raw_value).order_by(dead_letters.c.kafka_offset)
            )
            .scalars()
            .all()
        )
    assert stored[0] == deep
    assert HASH.encode() not in stored[1]
