"""Field types whose limits mirror the columns they end up in.

A value that would not fit its column fails validation here, with the field and the limit
in the message, instead of being truncated or rejected later by the database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
)

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
TEXT_MAX_BYTES = 65_535  # MySQL TEXT holds 64 KiB of UTF-8, not 64 Ki characters
MIN_YEAR, MAX_YEAR = 1000, 9999  # the documented MySQL DATETIME range
MAX_JSON_NESTING = 31  # MariaDB's JSON check refuses deeper documents (MySQL's limit is 100)
# MySQL's JSON type keeps integers as signed or unsigned 64-bit values; a larger one it
# parses as a double, rounded (MariaDB's JSON is text and would keep it exact).
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1

JsonValueT = TypeVar("JsonValueT", list[JsonValue], dict[str, JsonValue])

_ZERO = timedelta(0)
# JSON values that need no check but of an int's range, by exact type (so bool is listed;
# a float may be NaN).
_PLAIN_JSON = frozenset({str, int, bool, type(None)})
_OBJECTS_ONLY = frozenset({dict})


class Model(BaseModel):
    """Base of every event model: strict JSON types, unknown fields dropped, no input echoed.

    Unknown fields (password_hash, banking_info, ...) are ignored, so secrets never reach a
    model field; hide_input_in_errors keeps them out of validation messages too.
    """

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )


def _text_fits(value: str) -> str:
    # ASCII is one byte a character. Anything else is encoded, which also refuses a lone
    # surrogate (no column can store one), so a length bound alone would not be enough.
    if value.isascii() and len(value) <= TEXT_MAX_BYTES:
        return value
    return _encoded_text_fits(value)


def _encoded_text_fits(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > TEXT_MAX_BYTES:
        raise ValueError(
            f"text is {size} bytes in UTF-8; the TEXT column holds at most {TEXT_MAX_BYTES}"
        )
    return value


def _iso_8601_text(value: object) -> object:
    """Only ISO 8601 text is a timestamp: pydantic would also read "19999999999" or "0" as
    seconds since the epoch, which no producer of this contract means."""
    if not (isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-"):
        raise ValueError("timestamps must be ISO 8601 text, such as 2025-01-15T10:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    """Any offset (or none, read as UTC) to the same instant as a naive UTC datetime."""
    tzinfo = value.tzinfo
    # Nearly every timestamp is already UTC: only its tzinfo has to go, and combine() drops it
    # several times faster than replace() does. The shortcut returns what the conversion would:
    # astimezone() resets fold, and takes a tzinfo that answers None to mean local time.
    if (tzinfo is None or (not value.fold and tzinfo.utcoffset(value) == _ZERO)) and (
        MIN_YEAR <= value.year <= MAX_YEAR
    ):
        return datetime.combine(value.date(), value.time())
    return _converted_to_utc(value)


def _converted_to_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError(
                "timestamp is outside the supported range once converted to UTC"
            ) from None
    value = value.replace(tzinfo=None)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"timestamp year must be between {MIN_YEAR} and {MAX_YEAR} in UTC")
    return value


def _storable_json(value: JsonValueT) -> JsonValueT:
    """JSON columns take no NaN/Infinity, MySQL no integer past 64 bits unrounded, and
    MariaDB no more than 31 nested containers."""
    if not _plainly_storable(value):
        _check_json(value, enclosing=0)
    return value


def _plainly_storable(value: list[JsonValue] | dict[str, JsonValue]) -> bool:
    """True for the usual documents, flat or a list of flat objects, which cannot fail.

    The type checks run in C, unlike a walk of the document. False only means "not such a
    document" (floats, deeper nesting): `_check_json` then decides.
    """
    items = value.values() if isinstance(value, dict) else value
    if _PLAIN_JSON.issuperset(map(type, items)):
        return _integers_fit(items)
    if not _OBJECTS_ONLY.issuperset(map(type, items)):
        return False
    values = list(chain.from_iterable(map(dict.values, items)))  # type: ignore[arg-type]
    return _PLAIN_JSON.issuperset(map(type, values)) and _integers_fit(values)


def _integers_fit(values: Iterable[JsonValue]) -> bool:
    return all(JSON_INT_MIN <= v <= JSON_INT_MAX for v in values if type(v) is int)


def _check_json(value: JsonValue, enclosing: int) -> None:
    if isinstance(value, list | dict):
        if enclosing >= MAX_JSON_NESTING:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_NESTING} arrays/objects")
        for item in value if isinstance(value, list) else value.values():
            _check_json(item, enclosing + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("JSON numbers must be finite (no NaN or Infinity)")
    elif type(value) is int and not JSON_INT_MIN <= value <= JSON_INT_MAX:
        raise ValueError(
            "JSON integers must fit in 64 bits (from -2**63 to 2**64-1): "
            "MySQL would keep a larger one only rounded"
        )


Text = Annotated[str, AfterValidator(_text_fits)]
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Double = Annotated[float, Field(allow_inf_nan=False)]
# Lax, because the text reaches the datetime parser as a Python str once checked.
UtcDateTime = Annotated[
    datetime, Field(strict=False), BeforeValidator(_iso_8601_text), AfterValidator(_utc)
]

JsonList = Annotated[list[JsonValue], AfterValidator(_storable_json)]
JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_storable_json)]

# Identifiers and business keys: non-empty and within their column.
Key24 = Annotated[str, StringConstraints(min_length=1, max_length=24)]
Key36 = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Key50 = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Key100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Key200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]

# Free text within a VARCHAR(n) column (n counts characters, as Python does).
Str2 = Annotated[str, StringConstraints(max_length=2)]
Str20 = Annotated[str, StringConstraints(max_length=20)]
Str50 = Annotated[str, StringConstraints(max_length=50)]
Str100 = Annotated[str, StringConstraints(max_length=100)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Str255 = Annotated[str, StringConstraints(max_length=255)]
Str500 = Annotated[str, StringConstraints(max_length=500)]
