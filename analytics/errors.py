"""The one exception type for messages that can never be applied as they are."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a message was dead-lettered. Stored in `dead_letters.error_class`."""

    UNDECODABLE = "undecodable"  # not UTF-8 JSON
    NOT_AN_OBJECT = "not_an_object"  # JSON, but not an object
    INVALID_ENVELOPE = "invalid_envelope"  # event_type/event_id/timestamp/entity_id missing or bad
    FUTURE_TIMESTAMP = "future_timestamp"  # stamped further ahead of our clock than allowed
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    WRONG_TOPIC = "wrong_topic"  # event_type's topic is not the topic it arrived on
    INVALID_PAYLOAD = "invalid_payload"  # data does not fit the contract or the columns
    ENTITY_MISMATCH = "entity_mismatch"  # data.id names another entity than entity_id
    UNKNOWN_ENTITY = "unknown_entity"  # a delete/cancel for a row that does not exist
    KEY_CONFLICT = "key_conflict"  # a unique key already belongs to another entity
    DATABASE_REJECTED = "database_rejected"  # the server refused the row
    TOO_LARGE = "too_large"  # a row larger than any statement the server accepts


class InvalidEvent(Exception):
    """A message that will never apply, whatever is retried: it belongs in the dead letters.

    `detail` is written for people and never contains payload values that could be
    secrets: only event types, field paths, limits, and identifiers as
    `analytics.secrets.shown` lets them through.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
