"""A Kafka message as the platform's backend produces it, and the envelope it carries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

Document = dict[str, Any]


class PoisonKind(StrEnum):
    """The kinds of undecodable or contract-breaking messages the fault layer injects."""

    GARBAGE = "garbage"  # random bytes, never valid UTF-8
    INVALID_UTF8 = "invalid_utf8"  # a real envelope with a broken UTF-8 sequence inside
    TRUNCATED = "truncated"  # a real envelope cut short
    NOT_AN_OBJECT = "not_an_object"  # valid JSON, but an array or a string
    MISSING_FIELD = "missing_field"  # an envelope or payload field that is required is gone
    BAD_TIMESTAMP = "bad_timestamp"  # the envelope timestamp is not a date
    UNKNOWN_EVENT_TYPE = "unknown_event_type"  # e.g. "user.exploded"
    WRONG_TYPE = "wrong_type"  # e.g. a string where an integer is required
    INT_OVERFLOW = "int_overflow"  # an integer beyond the 32-bit column
    OVERSIZED = "oversized"  # e.g. a 500-character display_name
    ENTITY_MISMATCH = "entity_mismatch"  # data.id names another entity than entity_id


class Resend(StrEnum):
    """How an injected re-send relates to the clean stream (its bytes are always identical)."""

    DUPLICATE = "duplicate"  # an earlier message of the entity delivered again, later
    STALE = "stale"  # an older message of the entity re-sent right after a newer one


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message: `key` is the entity id, `topic` the prefix of `event_type`.

    `poison` and `resend` mark what the fault layer injected; they are never part of the
    bytes. For poison, `event_type` is the type of the clean event it was made from (an
    unknown-type poison carries its made-up type).
    """

    topic: str
    key: bytes
    value: bytes
    event_type: str
    poison: PoisonKind | None = None
    resend: Resend | None = None

    @property
    def injected(self) -> bool:
        return self.poison is not None or self.resend is not None


def topic_of(event_type: str) -> str:
    return event_type.partition(".")[0]


def envelope_time(instant: datetime) -> str:
    """The envelope's timestamp: ISO 8601 with microseconds and a "+00:00" offset."""
    return instant.isoformat(timespec="microseconds")


def document_time(instant: datetime) -> str:
    """Timestamps inside documents, as the backend's models dump them: "...Z"."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_json(value: Any) -> bytes:
    """Compact-enough UTF-8 JSON on one line (no newline can appear inside)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


def make_message(
    event_type: str, event_id: str, timestamp: datetime, entity_id: str, data: Document
) -> Message:
    envelope = {
        "event_type": event_type,
        "event_id": event_id,
        "timestamp": envelope_time(timestamp),
        "entity_id": entity_id,
        "data": data,
    }
    return Message(
        topic=topic_of(event_type),
        key=entity_id.encode("utf-8"),
        value=encode_json(envelope),
        event_type=event_type,
    )
