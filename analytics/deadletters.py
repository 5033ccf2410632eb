"""Dead letters: messages that could not be applied, kept with their reason for replay.

They are written in the same transaction as the batch they came from, one row per source
offset, so a replayed message updates its dead letter instead of adding a second one.
Secret fields are removed from the stored value first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from analytics.dal.statements import execute_upsert
from analytics.errors import InvalidEvent
from analytics.schema import dead_letters

SECRET_FIELDS = frozenset(
    {
        "password_hash",
        "password",
        "banking_info",
        "secret",
        "api_key",
        "access_token",
        "refresh_token",
    }
)
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    rb'"(' + b"|".join(re.escape(name.encode()) for name in sorted(SECRET_FIELDS)) + rb')"\s*:'
)
_LABEL_LIMIT = 100
_REASON_LIMIT = 4000


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: its Kafka coordinates, key and raw value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # The hash of the message as it first arrived, when `value` is a stored (redacted)
    # copy of it: a replayed letter that fails again updates its own row.
    recorded_hash: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source: Source
    error: InvalidEvent


def redact(raw: bytes | None) -> bytes | None:
    """The message with every secret field's value replaced; unchanged if it has none.

    A value that is not JSON cannot be redacted field by field, so everything from the
    first secret field name on is dropped.
    """
    if raw is None or _SECRET_KEY.search(raw) is None:
        return raw
    document = _parse(raw)
    if document is not _UNPARSEABLE:
        try:
            # ASCII escapes keep any lone surrogate the JSON spelled out storable.
            return json.dumps(_redacted(document)).encode()
        except RecursionError:
            pass  # nested too deep to walk: cut it like an unparseable message
    match = _SECRET_KEY.search(raw)
    assert match is not None
    return raw[: match.start()] + f"[{REDACTED}: the rest of this message]".encode()


_UNPARSEABLE = object()


def _parse(raw: bytes) -> Any:
    """The JSON document in `raw`, if it is strict UTF-8 JSON nested within Python's
    recursion limit; else _UNPARSEABLE.

    json.loads(bytes) would accept encoded surrogates, which no database can store.
    """
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return _UNPARSEABLE


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if key in SECRET_FIELDS else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def envelope_labels(raw: bytes | None) -> dict[str, str | None]:
    """event_type, event_id and entity_id when the value is a JSON object that has them."""
    labels: dict[str, str | None] = dict.fromkeys(("event_type", "event_id", "entity_id"))
    document = _parse(raw) if raw is not None else None
    if isinstance(document, dict):
        for name in labels:
            value = document.get(name)
            if isinstance(value, str) and len(value) <= _LABEL_LIMIT and _storable(value):
                labels[name] = value
    return labels


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def message_hash(source: Source) -> str:
    """SHA-256 (hex) of the message's key and value: part of its letter's identity."""
    if source.recorded_hash is not None:
        return source.recorded_hash
    digest = hashlib.sha256()
    for part in (source.key, source.value):
        # Length-prefixed, so that no key/value split of the same bytes collides.
        digest.update(b"-" if part is None else len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def record(connection: sa.Connection, letters: Sequence[DeadLetter], now: datetime) -> None:
    """Insert the dead letters, or refresh the ones already recorded for the same messages."""
    rows = [_row(letter, now) for letter in letters]
    update = ("raw_value", "error_class", "reason", "last_failed_at", "status")
    execute_upsert(connection, dead_letters, rows, update)


def _row(letter: DeadLetter, now: datetime) -> dict[str, Any]:
    source = letter.source
    return {
        "topic": source.topic,
        "kafka_partition": source.partition,
        "kafka_offset": source.offset,
        "kafka_key": source.key,
        "raw_value": redact(source.value),
        **envelope_labels(source.value),
        "error_class": str(letter.error.reason),
        "reason": letter.error.detail[:_REASON_LIMIT],
        "first_failed_at": now,
        "last_failed_at": now,
        "status": "pending",
        "replayed_at": None,
        "message_hash": message_hash(source),
        "message_bytes": None if source.value is None else len(source.value),
    }
