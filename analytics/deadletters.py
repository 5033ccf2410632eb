"""Dead letters: messages that could not be applied, kept with their reason for replay.

They are written in the same transaction as the batch they came from, one row per message
(its source coordinates and the hash of its bytes), so a message that fails again, or a
replayed letter, updates its own row instead of adding a second one.

A letter always keeps its message's coordinates, size and hash. Its key and raw value are
kept only when they can be shown to hold no secret:

- a value that is strict UTF-8 JSON has every secret field's value replaced, at any depth
  and inside strings that are themselves JSON objects or arrays; it is kept unless a key or
  string left in it still looks like it sets a secret (`"password=…"`, `?api_key=…`);
- any other value is kept as it is only if it mentions no secret name at all;
- a value larger than a bound derived from the server's packet limit is never kept.

A key or value not kept is said so in the letter's reason. Redaction touches secret fields
only, which no event model reads, so a replayed letter applies as its message would have.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from analytics.dal.statements import execute_upsert
from analytics.db import packet_limit
from analytics.errors import InvalidEvent
from analytics.schema import dead_letters
from analytics.secrets import (
    SecretNames,
    assigns_secret,
    is_identifier,
    is_secret_key,
    mentions_secret,
)

REDACTED = "[redacted]"
MAX_KEPT_BYTES = 4 * 1024 * 1024
_REASON_LIMIT = 4000
_LABELS = ("event_type", "event_id", "entity_id")

# Every column that follows from the message and its failure is refreshed together, so a
# row's labels, key and raw value always describe one message. The first failure time
# stays, and so does the size: a replay sends the stored copy, not the message as it came.
_REFRESHED = (
    "kafka_key",
    "raw_value",
    *_LABELS,
    "error_class",
    "reason",
    "last_failed_at",
    "status",
)


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


class Kept(NamedTuple):
    """What a letter stores of a key or value, and why not when it stores nothing."""

    value: bytes | None
    not_kept_because: str | None = None


def kept_limit(statement_limit: int) -> int:
    """The most bytes a letter keeps of its key and value together.

    A statement carries other rows and columns too, and escaping may double binary bytes:
    a quarter of what the server accepts, and never more than 4 MiB.
    """
    return min(MAX_KEPT_BYTES, statement_limit // 4)


def kept(raw: bytes | None, secrets: SecretNames, limit: int) -> Kept:
    """`raw` as a letter stores it: redacted, or nothing and why."""
    if raw is None:
        return Kept(None)
    if len(raw) > limit:
        return _too_large(len(raw), limit)
    redacted = redact(raw, secrets)
    if redacted.value is not None and len(redacted.value) > limit:
        return _too_large(len(redacted.value), limit)
    return redacted


def _too_large(size: int, limit: int) -> Kept:
    return Kept(None, f"{size} bytes is more than the {limit} a dead letter keeps")


def redact(raw: bytes, secrets: SecretNames) -> Kept:
    """`raw` with every secret field's value replaced (byte for byte the same when it has
    none), or nothing when it cannot be shown free of secrets."""
    document = _parse(raw)
    if document is not _UNPARSEABLE:
        try:
            redacted = _redacted(document, secrets)
        except _SetsSecret:
            return Kept(None, "a key or string in it looks like it sets a secret field")
        except RecursionError:
            pass  # nested too deep to walk: judged as text, like an unparseable message
        else:
            # ASCII escapes keep any lone surrogate the JSON spelled out storable.
            return Kept(raw if redacted is document else json.dumps(redacted).encode())
    if mentions_secret(raw, secrets):
        return Kept(None, "it could not be parsed and mentions a secret field")
    return Kept(raw)


_UNPARSEABLE = object()


class _Duplicates(dict[str, Any]):
    """A JSON object that named a key twice: only the last value survives parsing, so its
    text cannot be kept as it is (the lost values were never redacted)."""


class _SetsSecret(Exception):
    """A key or string that looks like it assigns a secret, outside any secret field."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    return _Duplicates(document) if len(document) < len(pairs) else document


def _parse(raw: bytes | str) -> Any:
    """The JSON document in `raw`, if it is strict UTF-8 JSON nested within Python's
    recursion limit; else _UNPARSEABLE.

    json.loads(bytes) would accept encoded surrogates, which no database can store.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text, object_pairs_hook=_object)
    except (ValueError, RecursionError):
        return _UNPARSEABLE


def _redacted(value: Any, secrets: SecretNames) -> Any:
    """`value` with secret fields replaced; `value` itself when nothing had to change.

    Raises _SetsSecret for a key or string outside secret fields that looks like one.
    """
    if isinstance(value, dict):
        return _redacted_object(value, secrets)
    if isinstance(value, list):
        items = [_redacted(item, secrets) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    if isinstance(value, str):
        return _redacted_text(value, secrets)
    return value


def _redacted_object(value: dict[str, Any], secrets: SecretNames) -> dict[str, Any]:
    items: dict[str, Any] = {}
    changed = isinstance(value, _Duplicates)
    for key, item in value.items():
        if is_secret_key(key, secrets):
            items[key], changed = REDACTED, True
            continue
        if assigns_secret(key, secrets):
            raise _SetsSecret
        items[key] = _redacted(item, secrets)
        changed = changed or items[key] is not item
    return items if changed else value


def _redacted_text(text: str, secrets: SecretNames) -> str:
    """A string that is itself a JSON object or array is redacted as one and re-encoded."""
    if text.lstrip()[:1] in ("{", "["):
        document = _parse(text)
        if isinstance(document, dict | list):
            redacted = _redacted(document, secrets)
            return text if redacted is document else json.dumps(redacted)
    if assigns_secret(text, secrets):
        raise _SetsSecret
    return text


def envelope_labels(raw: bytes | None, secrets: SecretNames) -> dict[str, str | None]:
    """event_type, event_id and entity_id when the value is a JSON object that has them
    as identifiers (see `analytics.secrets.shown`)."""
    labels: dict[str, str | None] = dict.fromkeys(_LABELS)
    document = _parse(raw) if raw is not None else None
    if isinstance(document, dict):
        for name in labels:
            value = document.get(name)
            if isinstance(value, str) and is_identifier(value, secrets):
                labels[name] = value
    return labels


def message_hash(source: Source) -> str:
    """SHA-256 (hex) of the message's key and value: part of its letter's identity."""
    if source.recorded_hash is not None:
        return source.recorded_hash
    digest = hashlib.sha256()
    for part in (source.key, source.value):
        # Length-prefixed, so that no key/value split of the same bytes collides.
        digest.update(b"-" if part is None else len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def record(
    connection: sa.Connection, letters: Sequence[DeadLetter], now: datetime, secrets: SecretNames
) -> None:
    """Insert the dead letters, or refresh the ones already recorded for the same messages."""
    limit = kept_limit(packet_limit(connection))
    rows = [_row(letter, now, secrets, limit) for letter in letters]
    execute_upsert(connection, dead_letters, rows, _REFRESHED)


def _row(letter: DeadLetter, now: datetime, secrets: SecretNames, limit: int) -> dict[str, Any]:
    source = letter.source
    key = kept(source.key, secrets, limit)
    value = kept(source.value, secrets, limit - len(key.value or b""))
    return {
        "topic": source.topic,
        "kafka_partition": source.partition,
        "kafka_offset": source.offset,
        "kafka_key": key.value,
        "raw_value": value.value,
        **envelope_labels(source.value, secrets),
        "error_class": str(letter.error.reason),
        "reason": _reason(letter.error.detail, key, value),
        "first_failed_at": now,
        "last_failed_at": now,
        "status": "pending",
        "replayed_at": None,
        "message_hash": message_hash(source),
        "message_bytes": None if source.value is None else len(source.value),
    }


def _reason(detail: str, key: Kept, value: Kept) -> str:
    """The failure, and what of the message the letter does not keep, and why."""
    parts = (("Kafka key", key.not_kept_because), ("raw value", value.not_kept_because))
    notes = "".join(f"; {part} not kept: {why}" for part, why in parts if why is not None)
    return detail[: _REASON_LIMIT - len(notes)] + notes
