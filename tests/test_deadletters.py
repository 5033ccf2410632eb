"""Dead letters: one row per message, secrets never kept, everything else said."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.deadletters import (
    MAX_KEPT_BYTES,
    REDACTED,
    DeadLetter,
    Source,
    envelope_labels,
    kept,
    kept_limit,
    message_hash,
    record,
    redact,
)
from analytics.errors import InvalidEvent, Reason
from analytics.events import decode_event
from analytics.schema import dead_letters
from analytics.secrets import DEFAULT_SECRET_FIELDS, DEFAULT_SECRETS, is_secret_key, secret_names
from tests.samples import all_sample_types, encode, sample_bytes, sample_dict

HASH = "$2b$12$secretsecretsecretsecretsecret"
NOW = datetime(2025, 1, 1)


def redacted_value(raw: bytes) -> bytes:
    value = redact(raw, DEFAULT_SECRETS).value
    assert value is not None
    return value


def stored_letters(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(dead_letters).order_by(dead_letters.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


def record_now(engine: sa.Engine, *letters: DeadLetter, now: datetime = NOW) -> None:
    with engine.begin() as connection:
        record(connection, letters, now, DEFAULT_SECRETS)


def failed(source: Source, detail: str = "bad") -> DeadLetter:
    return DeadLetter(source, InvalidEvent(Reason.INVALID_PAYLOAD, detail))


# --- redaction --------------------------------------------------------------------------------


def test_redact_replaces_secret_fields_at_any_depth() -> None:
    redacted = redacted_value(sample_bytes("supplier.created"))
    assert HASH.encode() not in redacted
    assert b"First Bank" not in redacted
    document = json.loads(redacted)
    assert document["data"]["password_hash"] == REDACTED
    assert document["data"]["banking_info"] == REDACTED
    assert document["data"]["company_info"]["legal_name"] == "Rossi Crafts LLC"


def test_redact_leaves_messages_without_secrets_byte_for_byte() -> None:
    raw = sample_bytes("order.created")
    assert redact(raw, DEFAULT_SECRETS).value == raw
    assert redact(b"\xff\x00not json", DEFAULT_SECRETS).value == b"\xff\x00not json"
    assert kept(None, DEFAULT_SECRETS, 100) == (None, None)


@pytest.mark.parametrize(
    "key", ["password_hash", "passwordHash", "PASSWORD_HASH", "Password-Hash", "pass word hash"]
)
def test_secret_fields_are_redacted_whatever_their_case_and_style(key: str) -> None:
    envelope = sample_dict("user.deleted")
    envelope["data"]["nested"] = [{key: {"value": "hunter2"}}]
    redacted = redacted_value(encode(envelope))
    assert b"hunter2" not in redacted
    assert json.loads(redacted)["data"]["nested"] == [{key: REDACTED}]


def test_a_key_spelled_with_escapes_is_redacted() -> None:
    raw = b'{"event_type": "user.deleted", "data": {"\\u0070assword_hash": "hunter2"}}'
    assert json.loads(redacted_value(raw))["data"] == {"password_hash": REDACTED}


def test_json_inside_a_string_is_redacted_and_encoded_again() -> None:
    inner = {"bank": {"api_key": "hunter2"}, "kept": "yes"}
    raw = encode({"data": json.dumps(inner), "list": json.dumps([inner])})
    document = json.loads(redacted_value(raw))
    assert json.loads(document["data"]) == {"bank": {"api_key": REDACTED}, "kept": "yes"}
    assert json.loads(document["list"]) == [{"bank": {"api_key": REDACTED}, "kept": "yes"}]


def test_a_key_named_twice_keeps_only_the_value_parsing_keeps() -> None:
    raw = b'{"data": {"password_hash": "hunter2"}, "data": {"user_id": "u1"}}'
    redacted = redacted_value(raw)
    assert b"hunter2" not in redacted
    assert json.loads(redacted) == json.loads(raw) == {"data": {"user_id": "u1"}}


def test_configured_secret_fields_are_redacted() -> None:
    raw = encode({"data": {"PIN-code": "1234", "password": "hunter2"}})
    redacted = redact(raw, secret_names(["pin_code"])).value
    assert redacted is not None
    assert json.loads(redacted) == {"data": {"PIN-code": REDACTED, "password": "hunter2"}}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{'password_hash': 'hunter2'}", "could not be parsed and mentions a secret field"),
        (b'{"password_hash" "hunter2"}', "could not be parsed and mentions a secret field"),
        (b'{"a": "\xff", "password": "hunter2"}', "could not be parsed and mentions a secret"),
        (b'\xef\xbb\xbf{"password": "hunter2"}', "could not be parsed and mentions a secret"),
        ('{"api_key": "hunter2"}'.encode("utf-16"), "could not be parsed and mentions a secret"),
        (b"user=bob password=hunter2", "could not be parsed and mentions a secret field"),
        (b'{"secret": "hunter2", "a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "mentions a secret"),
        (b'{"data": {"password=hunter2": 1}}', "looks like it sets a secret field"),
        (b'{"data": "{\\"secret\\": \\"hunter2\\"} cut"}', "looks like it sets a secret field"),
        (b'{"url": "https://x.example/?access_token=hunter2"}', "looks like it sets a secret"),
        (b'{"event_type": "user.Password:hunter2"}', "looks like it sets a secret field"),
    ],
)
def test_a_value_not_shown_free_of_secrets_is_not_kept(raw: bytes, why: str) -> None:
    result = kept(raw, DEFAULT_SECRETS, MAX_KEPT_BYTES)
    assert result.value is None
    assert result.not_kept_because is not None
    assert why in result.not_kept_because


def test_the_kept_bytes_are_a_quarter_of_the_statement_limit_and_at_most_4_mib() -> None:
    assert kept_limit(64 * 1024 * 1024) == MAX_KEPT_BYTES == 4 * 1024 * 1024
    assert kept_limit(4 * 1024 * 1024) == 1024 * 1024
    assert kept(b"x" * 101, DEFAULT_SECRETS, 100).not_kept_because == (
        "101 bytes is more than the 100 a dead letter keeps"
    )
    assert kept(b"x" * 100, DEFAULT_SECRETS, 100).value == b"x" * 100


# Secret fields spelled as careless producers spell them, with values of any JSON shape.
SPELLINGS = st.sampled_from(DEFAULT_SECRET_FIELDS).flatmap(
    lambda name: st.sampled_from(
        [
            name,
            name.upper(),
            name.replace("_", "-").title(),
            "".join(part.title() if i else part for i, part in enumerate(name.split("_"))),
        ]
    )
)
SECRET_VALUES = st.recursive(
    st.text(max_size=20) | st.integers() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
# Payload fields whose JSON is stored as it is, and variants keyed by data: a secret put
# there is not a field of the event, it is data the event carries.
NOT_MODEL_OBJECTS = {"attributes", "variant_attributes", "media", "variants"}


def model_objects(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the JSON objects of an envelope that the event models read."""
    if not isinstance(node, dict) or (path and path[-1] in NOT_MODEL_OBJECTS):
        return []
    found = [path]
    for key, child in node.items():
        found += model_objects(child, (*path, key))
    return found


@st.composite
def envelopes_with_secrets(draw: st.DrawFn) -> dict[str, Any]:
    envelope = copy.deepcopy(sample_dict(draw(st.sampled_from(all_sample_types()))))
    targets = model_objects(envelope)
    for _ in range(draw(st.integers(1, 4))):
        container = envelope
        for step in draw(st.sampled_from(targets)):
            container = container[step]
        value = draw(SECRET_VALUES)
        as_text = draw(st.booleans())
        container[draw(SPELLINGS)] = json.dumps({"secret": value}) if as_text else value
    return envelope


def unredacted(node: Any) -> list[str]:
    """The secret fields of a document (JSON in strings included) that still hold a value."""
    if isinstance(node, str) and node.startswith(("{", "[")) and node != REDACTED:
        return unredacted(json.loads(node))
    if isinstance(node, list):
        return [key for item in node for key in unredacted(item)]
    if not isinstance(node, dict):
        return []
    found = [key for key, value in node.items() if is_secret_key(key, DEFAULT_SECRETS)]
    found = [key for key in found if node[key] != REDACTED]
    return found + [key for value in node.values() for key in unredacted(value)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelope=envelopes_with_secrets())
def test_redaction_removes_every_secret_and_changes_nothing_an_event_reads(
    envelope: dict[str, Any],
) -> None:
    """A replayed letter decodes to the very event its message gave."""
    raw = encode(envelope)
    stored = redacted_value(raw)
    assert unredacted(json.loads(stored)) == []
    assert decode_event(stored) == decode_event(raw)
    assert redacted_value(stored) == stored


# --- labels -------------------------------------------------------------------------------------


def test_labels_come_from_the_envelope_when_they_are_identifiers() -> None:
    labels = envelope_labels(sample_bytes("user.created"), DEFAULT_SECRETS)
    assert labels == {
        "event_type": "user.created",
        "event_id": "78511608-0d65-4372-a907-94dfed52a241",
        "entity_id": "ec99108ddb5b5fab8f4d3e27",
    }
    none = {"event_type": None, "event_id": None, "entity_id": None}
    assert envelope_labels(b"[1]", DEFAULT_SECRETS) == none
    assert envelope_labels(b'{"event_type": 5}', DEFAULT_SECRETS)["event_type"] is None
    unsafe = {"event_type": "user.x y", "event_id": "e" * 65, "entity_id": "api-key:hunter2"}
    assert envelope_labels(encode(unsafe), DEFAULT_SECRETS) == none


# --- rows -------------------------------------------------------------------------------------


def test_a_dead_letter_is_stored_once_per_message_without_secrets(engine: sa.Engine) -> None:
    source = Source(
        "supplier", 3, 42, b"6b77730f65bd9acbb57a6a1d", sample_bytes("supplier.created")
    )
    first = DeadLetter(source, InvalidEvent(Reason.INVALID_PAYLOAD, "first try"))
    again = DeadLetter(source, InvalidEvent(Reason.DATABASE_REJECTED, "second try"))
    record_now(engine, first, now=datetime(2025, 1, 1, 10))
    record_now(engine, again, now=datetime(2025, 1, 1, 11))
    (row,) = stored_letters(engine)
    assert (row["topic"], row["kafka_partition"], row["kafka_offset"]) == ("supplier", 3, 42)
    assert row["kafka_key"] == b"6b77730f65bd9acbb57a6a1d"
    assert row["event_type"] == "supplier.created"
    assert row["error_class"] == "database_rejected"
    assert row["reason"] == "second try"
    assert row["first_failed_at"] == datetime(2025, 1, 1, 10)
    assert row["last_failed_at"] == datetime(2025, 1, 1, 11)
    assert row["status"] == "pending"
    assert row["message_hash"] == message_hash(source)
    assert row["message_bytes"] == len(sample_bytes("supplier.created"))
    assert HASH.encode() not in row["raw_value"]
    assert b"First Bank" not in row["raw_value"]


def test_a_recreated_topic_keeps_a_letter_for_each_message(engine: sa.Engine) -> None:
    """Offsets restart when a topic is recreated: the same coordinates, other bytes."""
    before = Source("user", 0, 7, b"k", b"not json, before")
    after = Source("user", 0, 7, b"k", b'{"event_type": "user.nope"}')
    record_now(engine, failed(before, "before"))
    record_now(engine, failed(after, "after"), now=datetime(2025, 1, 2))
    rows = stored_letters(engine)
    assert [(row["raw_value"], row["reason"]) for row in rows] == [
        (before.value, "before"),
        (after.value, "after"),
    ]
    assert [row["event_type"] for row in rows] == [None, "user.nope"]
    assert rows[0]["message_hash"] != rows[1]["message_hash"]


def test_the_hash_is_of_the_key_and_the_value_as_they_arrived() -> None:
    source = Source("user", 0, 7, b"ab", b"c")
    expected = hashlib.sha256(
        (2).to_bytes(8, "big") + b"ab" + (1).to_bytes(8, "big") + b"c"
    ).hexdigest()
    assert message_hash(source) == expected
    assert message_hash(Source("user", 0, 7, b"a", b"bc")) != expected
    assert message_hash(Source("user", 0, 7, None, b"c", recorded_hash="f" * 64)) == "f" * 64


def test_labels_key_and_raw_value_are_refreshed_together(engine: sa.Engine) -> None:
    """A second failure of one message, recorded under other secret fields, rewrites every
    column that follows from the message: none is left describing the first version."""
    envelope = sample_dict("user.deleted")
    envelope["entity_id"] = "pin-code:1234"
    envelope["data"] = {"user_id": "pin-code:1234", "pinCode": "1234"}
    source = Source("user", 0, 5, b"pin_code=1234", encode(envelope))
    record_now(engine, failed(source))
    first = stored_letters(engine)[0]
    assert (first["entity_id"], first["kafka_key"]) == ("pin-code:1234", b"pin_code=1234")
    with engine.begin() as connection:
        record(connection, [failed(source)], datetime(2025, 1, 2), secret_names(["pin_code"]))
    (row,) = stored_letters(engine)
    assert (row["entity_id"], row["kafka_key"], row["raw_value"]) == (None, None, None)
    assert "raw value not kept" in row["reason"]
    assert "Kafka key not kept" in row["reason"]
    assert (row["first_failed_at"], row["message_bytes"]) == (NOW, len(encode(envelope)))


def test_a_value_not_kept_keeps_its_hash_and_size_and_says_why(engine: sa.Engine) -> None:
    source = Source("user", 0, 1, b"password=hunter2", b"{'password': 'hunter2'}")
    record_now(engine, failed(source, "not UTF-8 JSON"))
    (row,) = stored_letters(engine)
    assert (row["kafka_key"], row["raw_value"]) == (None, None)
    assert row["message_hash"] == message_hash(source)
    assert row["message_bytes"] == len(b"{'password': 'hunter2'}")
    assert row["reason"] == (
        "not UTF-8 JSON"
        "; Kafka key not kept: it could not be parsed and mentions a secret field"
        "; raw value not kept: it could not be parsed and mentions a secret field"
    )


def test_encoded_surrogates_and_escaped_ones_are_stored_safely(engine: sa.Engine) -> None:
    secret = b'"password_hash": "' + HASH.encode() + b'"'
    raw_surrogate = b'{"event_type": "user.created\xed\xa0\x80", ' + secret + b"}"
    escaped_surrogate = b'{"event_type": "user.\\ud800", ' + secret + b"}"
    record_now(
        engine,
        *(
            failed(Source("user", 0, n, None, raw))
            for n, raw in enumerate([raw_surrogate, escaped_surrogate])
        ),
    )
    stored = stored_letters(engine)
    assert [row["event_type"] for row in stored] == [None, None]
    assert stored[0]["raw_value"] is None
    assert json.loads(stored[1]["raw_value"]) == {
        "event_type": "user.\ud800",
        "password_hash": REDACTED,
    }


def test_messages_nested_beyond_the_recursion_limit_are_stored_safely(engine: sa.Engine) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    secret = b'{"password_hash": "' + HASH.encode() + b'", "x": ' + b"[" * 600 + b"]" * 600 + b"}"
    record_now(
        engine, *(failed(Source("user", 0, n, None, raw)) for n, raw in enumerate([deep, secret]))
    )
    stored = [row["raw_value"] for row in stored_letters(engine)]
    assert stored[0] == deep
    assert stored[1] is None
