"""Typed events: the envelope and the payload of each of the 19 event types.

`decode_event` is the only way bytes become an `Event`; anything it cannot turn into one
raises `InvalidEvent` with a reason and a message that names the event, the field and the
limit, and never repeats a payload value.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from analytics.errors import InvalidEvent, Reason
from analytics.events.envelope import ENTITY_MISMATCH
from analytics.events.order import DUPLICATE_ITEM_ID, OrderCancelled, OrderCreated
from analytics.events.post import PostDeleted, PostSnapshot
from analytics.events.product import ProductDeleted, ProductSnapshot
from analytics.events.supplier import SupplierDeleted, SupplierSnapshot
from analytics.events.user import UserDeleted, UserSnapshot
from analytics.secrets import DEFAULT_SECRETS, SecretNames, shown

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


def _field_names(annotation: Any) -> frozenset[str]:
    """The names of the fields the models within `annotation` read, at any depth."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields
        return frozenset(fields).union(*(_field_names(f.annotation) for f in fields.values()))
    return frozenset().union(*(_field_names(argument) for argument in get_args(annotation)))


# What redaction must never touch, or a replayed dead letter would not apply as it was.
FIELD_NAMES = _field_names(Event)

_ENVELOPE_FIELDS = frozenset({"event_type", "event_id", "timestamp", "entity_id"})
_MAX_REPORTED_ERRORS = 3
# The errors the models raise themselves, whose message templates name payload values:
# rendered here, through `shown`, rather than as pydantic formatted them.
_OWN_ERRORS = {"entity_mismatch": ENTITY_MISMATCH, "duplicate_item_id": DUPLICATE_ITEM_ID}
# Where pydantic's error locations name a dict key's own check rather than a key.
_KEY_MARKER = "[key]"


def topic_of(event_type: str) -> str:
    return event_type.partition(".")[0]


def decode_event(raw: bytes | str, secrets: SecretNames = DEFAULT_SECRETS) -> Event:
    """Parse and validate one message value (UTF-8 JSON).

    The reason of an `InvalidEvent` shows payload values only as `shown` allows, with
    `secrets` the names no shown value may contain.
    """
    try:
        return _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _invalid_event(exc, secrets) from None


def _invalid_event(exc: ValidationError, secrets: SecretNames) -> InvalidEvent:
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
        tag = first.get("ctx", {}).get("tag", "")
        return InvalidEvent(Reason.UNKNOWN_EVENT_TYPE, f"unknown event_type {shown(tag, secrets)}")
    event_type = str(loc[0])
    described = "; ".join(_describe(error, secrets) for error in errors[:_MAX_REPORTED_ERRORS])
    if len(errors) > _MAX_REPORTED_ERRORS:
        described += f"; and {len(errors) - _MAX_REPORTED_ERRORS} more"
    if kind == "entity_mismatch":
        return InvalidEvent(Reason.ENTITY_MISMATCH, f"{event_type}: {described}")
    if len(loc) > 1 and loc[1] in _ENVELOPE_FIELDS:
        return InvalidEvent(Reason.INVALID_ENVELOPE, f"{event_type}: {described}")
    return InvalidEvent(Reason.INVALID_PAYLOAD, f"{event_type}: {described}")


def _describe(error: Any, secrets: SecretNames) -> str:
    path = ".".join(_location(part, secrets) for part in error["loc"][1:]) or "(event)"
    template = _OWN_ERRORS.get(error["type"])
    if template is None:
        return f"{path}: {error['msg']}"
    values = {name: shown(value, secrets) for name, value in error.get("ctx", {}).items()}
    return f"{path}: {template.format(**values)}"


def _location(part: str | int, secrets: SecretNames) -> str:
    """A field name, a list index or a dict key (a payload value: a variant's key)."""
    return part if part == _KEY_MARKER else shown(part, secrets)


__all__ = [
    "EVENT_TYPES",
    "FIELD_NAMES",
    "TOPICS",
    "Event",
    "decode_event",
    "topic_of",
]
