"""Typed events: the envelope and the payload of each of the 19 event types.

`decode_event` is the only way bytes become an `Event`; anything it cannot turn into one
raises `InvalidEvent` with a reason and a message that names the event, the field and the
limit, and never repeats a payload value.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import Field, TypeAdapter, ValidationError

from analytics.errors import InvalidEvent, Reason
from analytics.events.order import OrderCancelled, OrderCreated
from analytics.events.post import PostDeleted, PostSnapshot
from analytics.events.product import ProductDeleted, ProductSnapshot
from analytics.events.supplier import SupplierDeleted, SupplierSnapshot
from analytics.events.user import UserDeleted, UserSnapshot

Event = Annotated[
    UserSnapshot
    | UserDeleted
    | SupplierSnapshot
    | SupplierDeleted
    | ProductSnapshot
    | ProductDeleted
    | PostSnapshot
    | PostDeleted
    | OrderCreated
    | OrderCancelled,
    Field(discriminator="event_type"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

TOPICS = ("user", "supplier", "product", "post", "order")

EVENT_TYPES: tuple[str, ...] = tuple(
    literal
    for model in get_args(get_args(Event)[0])
    for literal in get_args(model.model_fields["event_type"].annotation)
)

_ENVELOPE_FIELDS = frozenset({"event_type", "event_id", "timestamp", "entity_id"})
_MAX_REPORTED_ERRORS = 3


def topic_of(event_type: str) -> str:
    return event_type.partition(".")[0]


def decode_event(raw: bytes | str) -> Event:
    """Parse and validate one message value (UTF-8 JSON)."""
    try:
        return _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _invalid_event(exc) from None


def _invalid_event(exc: ValidationError) -> InvalidEvent:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    kind, loc = first["type"], first["loc"]
    if kind in ("json_invalid", "string_unicode"):
        return InvalidEvent(Reason.UNDECODABLE, f"not UTF-8 JSON: {first['msg']}")
    if kind in ("dict_type", "model_type", "model_attributes_type") and not loc:
        return InvalidEvent(Reason.NOT_AN_OBJECT, "the message is JSON but not an object")
    if kind == "union_tag_not_found":
        return InvalidEvent(Reason.INVALID_ENVELOPE, "event_type is missing")
    if kind == "union_tag_invalid":
        tag = str(first.get("ctx", {}).get("tag", ""))[:100]
        return InvalidEvent(Reason.UNKNOWN_EVENT_TYPE, f"unknown event_type {tag!r}")
    event_type = str(loc[0])
    described = "; ".join(_describe(error) for error in errors[:_MAX_REPORTED_ERRORS])
    if len(errors) > _MAX_REPORTED_ERRORS:
        described += f"; and {len(errors) - _MAX_REPORTED_ERRORS} more"
    if kind == "entity_mismatch":
        return InvalidEvent(Reason.ENTITY_MISMATCH, f"{event_type}: {described}")
    if len(loc) > 1 and loc[1] in _ENVELOPE_FIELDS:
        return InvalidEvent(Reason.INVALID_ENVELOPE, f"{event_type}: {described}")
    return InvalidEvent(Reason.INVALID_PAYLOAD, f"{event_type}: {described}")


def _describe(error: Any) -> str:
    path = ".".join(str(part) for part in error["loc"][1:]) or "(event)"
    return f"{path}: {error['msg']}"


__all__ = [
    "EVENT_TYPES",
    "TOPICS",
    "Event",
    "decode_event",
    "topic_of",
]
