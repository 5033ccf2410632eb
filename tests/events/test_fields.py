"""Column limits at their boundaries, and each check's shortcut against its full version.

The checks in analytics.events.fields answer the usual values by a shortcut and leave the rest
to the full check, so these tests pin both sides of every shortcut through `decode_event`, and
let hypothesis compare shortcut and full check on generated values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from pydantic_core import TzInfo

from analytics.errors import InvalidEvent, Reason
from analytics.events import Event, decode_event
from analytics.events.fields import (
    JSON_INT_MAX,
    JSON_INT_MIN,
    MAX_JSON_NESTING,
    TEXT_MAX_BYTES,
    Text,
    _check_json,
    _converted_to_utc,
    _encoded_text_fits,
    _plainly_storable,
    _storable_json,
    _text_fits,
    _utc,
)
from analytics.events.post import PostSnapshot
from analytics.events.user import UserSnapshot
from tests.samples import encode, sample_dict

EMOJI = "😀"  # 4 bytes in UTF-8
MOST_4_BYTE_CHARACTERS = TEXT_MAX_BYTES // 4  # 16,383: 65,532 bytes

TEXT_TOO_LONG = "text is 65536 bytes in UTF-8; the TEXT column holds at most 65535"
YEAR_OUT_OF_RANGE = "timestamp year must be between 1000 and 9999 in UTC"
BEYOND_DATETIME = "timestamp is outside the supported range once converted to UTC"
TOO_DEEP = "JSON nested deeper than 31 arrays/objects"
NOT_FINITE = "JSON numbers must be finite (no NaN or Infinity)"


def decoded(event_type: str, path: tuple[Any, ...], value: Any) -> Event:
    """The sample of `event_type` with `value` at `path`, decoded."""
    envelope = sample_dict(event_type)
    target = envelope
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    # json.dumps writes NaN and Infinity as such, so they reach the validator.
    return decode_event(encode(envelope))


def refusal(event_type: str, path: tuple[Any, ...], value: Any) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decoded(event_type, path, value)
    assert caught.value.reason is Reason.INVALID_PAYLOAD
    return caught.value.detail


# --- TEXT: 65,535 bytes of UTF-8 -------------------------------------------------------------

TEXT_PATH = ("data", "text_content")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(EMOJI * MOST_4_BYTE_CHARACTERS, id="16383 4-byte characters"),
        pytest.param(EMOJI * MOST_4_BYTE_CHARACTERS + "abc", id="65535 bytes, mixed"),
        pytest.param("é" * 32_767 + "a", id="65535 bytes, 2-byte characters"),
        pytest.param("a" * TEXT_MAX_BYTES, id="65535 bytes, ASCII"),
        pytest.param("", id="empty"),
    ],
)
def test_text_up_to_65535_bytes_is_accepted(text: str) -> None:
    event = decoded("post.created", TEXT_PATH, text)
    assert isinstance(event, PostSnapshot)
    assert event.data.text_content == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(EMOJI * (MOST_4_BYTE_CHARACTERS + 1), id="16384 4-byte characters"),
        pytest.param(EMOJI * MOST_4_BYTE_CHARACTERS + "abcd", id="65536 bytes, mixed"),
        pytest.param("é" * 32_768, id="65536 bytes, 2-byte characters"),
        pytest.param("a" * (TEXT_MAX_BYTES + 1), id="65536 bytes, ASCII"),
    ],
)
def test_text_of_65536_bytes_is_refused_with_its_size(text: str) -> None:
    assert f"text_content: Value error, {TEXT_TOO_LONG}" in refusal("post.created", TEXT_PATH, text)


def test_a_lone_surrogate_is_refused_however_short_the_text() -> None:
    # JSON parsing refuses one already; a value built in Python still meets this check.
    with pytest.raises(ValidationError, match="surrogates not allowed"):
        TypeAdapter(Text).validate_python("a\ud800")


ALPHABET = st.one_of(
    st.characters(max_codepoint=0x7F),
    st.characters(min_codepoint=0x80, max_codepoint=0x7FF),  # 2 bytes
    st.characters(min_codepoint=0x800, max_codepoint=0xFFFF),  # 3 bytes
    st.characters(min_codepoint=0x10000),  # 4 bytes
    st.characters(categories=["Cs"]),  # lone surrogates
)
# Repetitions that bring 1- to 4-byte pieces to either side of the limit.
REPEATS = st.one_of(
    st.integers(0, 40),
    *(st.integers(n - 3, n + 3) for n in (16_383, 21_845, 32_767, 65_535)),
)


@given(piece=st.text(ALPHABET, min_size=1, max_size=3), repeats=REPEATS)
def test_the_text_shortcut_agrees_with_encoding(piece: str, repeats: int) -> None:
    text = piece * repeats
    assert outcome(_text_fits, text) == outcome(_encoded_text_fits, text)


# --- DATETIME: years 1000 to 9999, in UTC ----------------------------------------------------

STAMP_PATH = ("data", "created_at")


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1000-01-01T00:00:00Z", datetime(1000, 1, 1)),
        ("1000-01-01T00:00:00+00:00", datetime(1000, 1, 1)),
        ("1000-01-01T00:00:00-00:00", datetime(1000, 1, 1)),
        ("1000-01-01T00:00:00", datetime(1000, 1, 1)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999)),
        ("9999-12-31T23:59:59.999999+00:00", datetime(9999, 12, 31, 23, 59, 59, 999999)),
        ("9999-12-31T23:59:59.999999-00:00", datetime(9999, 12, 31, 23, 59, 59, 999999)),
        ("9999-12-31T23:59:59.999999", datetime(9999, 12, 31, 23, 59, 59, 999999)),
        # An offset that brings a year outside the range back inside it.
        ("0999-12-31T23:30:00-01:00", datetime(1000, 1, 1, 0, 30)),
        ("9999-12-31T23:30:00+01:00", datetime(9999, 12, 31, 22, 30)),
        ("1000-01-01T00:30:00+00:30", datetime(1000, 1, 1)),
    ],
)
def test_timestamps_within_the_years_in_utc_are_accepted(stamp: str, expected: datetime) -> None:
    event = decoded("user.created", STAMP_PATH, stamp)
    assert isinstance(event, UserSnapshot)
    assert event.data.created_at == expected
    assert event.data.created_at.tzinfo is None


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ("0999-12-31T23:59:59.999999Z", YEAR_OUT_OF_RANGE),
        ("0999-12-31T23:59:59.999999+00:00", YEAR_OUT_OF_RANGE),
        ("0999-12-31T23:59:59.999999-00:00", YEAR_OUT_OF_RANGE),
        ("0999-12-31T23:59:59.999999", YEAR_OUT_OF_RANGE),
        ("0001-01-01T00:00:00Z", YEAR_OUT_OF_RANGE),
        # An offset that takes a year inside the range outside it.
        ("1000-01-01T00:30:00+01:00", YEAR_OUT_OF_RANGE),
        ("1000-01-01T00:00:00.000001+00:01", YEAR_OUT_OF_RANGE),
        ("0999-12-31T23:59:59-00:00", YEAR_OUT_OF_RANGE),
        # ... or beyond what a datetime holds.
        ("9999-12-31T23:30:00-01:00", BEYOND_DATETIME),
        ("0001-01-01T00:00:00+01:00", BEYOND_DATETIME),
    ],
)
def test_timestamps_outside_the_years_in_utc_are_refused(stamp: str, message: str) -> None:
    assert f"created_at: Value error, {message}" in refusal("user.created", STAMP_PATH, stamp)


ISO_ONLY = "timestamps must be ISO 8601 text"


@pytest.mark.parametrize("path", [STAMP_PATH, ("timestamp",)], ids=["data", "envelope"])
@pytest.mark.parametrize(
    "stamp",
    ["19999999999", "0", "1736935200", "1736935200.5", "-1", "", "today", 1736935200, True],
)
def test_only_iso_8601_text_is_a_timestamp(path: tuple[str, ...], stamp: object) -> None:
    """pydantic would read epoch seconds from a number or a numeric string."""
    with pytest.raises(InvalidEvent) as caught:
        decoded("user.created", path, stamp)
    assert ISO_ONLY in caught.value.detail


class UnknownOffset(tzinfo):
    """A tzinfo that does not know its offset, which makes a datetime read as local time."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


@pytest.fixture
def local_time_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_in_new_york")
def test_a_tzinfo_without_an_offset_still_means_local_time() -> None:
    value = datetime(2025, 1, 15, 10, 30, tzinfo=UnknownOffset())
    assert _utc(value) == _converted_to_utc(value) == datetime(2025, 1, 15, 15, 30)


EDGES = [
    datetime.min,
    datetime(999, 12, 31, 23, 59, 59, 999999),
    datetime(1000, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
]
OFFSETS = st.one_of(
    st.just(timedelta(0)),
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23)),
)
TIMEZONES = st.one_of(
    st.none(),
    st.builds(TzInfo, st.one_of(st.just(0), st.integers(-86_399, 86_399))),
    st.builds(timezone, OFFSETS),
    st.timezones(),
    st.just(UnknownOffset()),
)


@given(
    naive=st.one_of(st.datetimes(), st.sampled_from(EDGES)),
    zone=TIMEZONES,
    fold=st.integers(0, 1),
)
def test_the_utc_shortcut_agrees_with_the_conversion(
    naive: datetime, zone: tzinfo | None, fold: int
) -> None:
    value = naive.replace(tzinfo=zone, fold=fold)
    assert outcome(_utc, value) == outcome(_converted_to_utc, value)


# --- JSON: finite numbers, at most 31 nested arrays/objects ----------------------------------

MEDIA_PATH = ("data", "media")  # a JsonList
ATTRIBUTES_PATH = ("data", "items", 0, "product_snapshot", "variant_attributes")  # a JsonObject


def nested(containers: int, leaf: Any = "leaf", kinds: tuple[type, ...] = (list,)) -> Any:
    """`leaf` inside `containers` arrays/objects: the outermost is kinds[0], and so on, cycling."""
    value = leaf
    for level in reversed(range(containers)):  # level 0 is the outermost
        value = [value] if kinds[level % len(kinds)] is list else {"k": value}
    return value


@pytest.mark.parametrize(
    ("path", "field", "kinds"),
    [
        (MEDIA_PATH, "media", (list,)),
        (MEDIA_PATH, "media", (list, dict)),
        (ATTRIBUTES_PATH, "variant_attributes", (dict,)),
        (ATTRIBUTES_PATH, "variant_attributes", (dict, list)),
    ],
)
def test_json_at_31_levels_is_accepted_and_at_32_refused(
    path: tuple[Any, ...], field: str, kinds: tuple[type, ...]
) -> None:
    event_type = "post.created" if path is MEDIA_PATH else "order.created"
    decoded(event_type, path, nested(MAX_JSON_NESTING, kinds=kinds))
    detail = refusal(event_type, path, nested(MAX_JSON_NESTING + 1, kinds=kinds))
    assert f"{field}: Value error, {TOO_DEEP}" in detail


def test_an_empty_container_counts_as_a_level() -> None:
    decoded("post.created", MEDIA_PATH, nested(MAX_JSON_NESTING - 1, []))
    detail = refusal("post.created", MEDIA_PATH, nested(MAX_JSON_NESTING, []))
    assert TOO_DEEP in detail


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "media",
    [
        pytest.param([1, NAN], id="flat list"),
        pytest.param([{"a": "x"}, {"b": -INF}], id="list of flat objects"),
        pytest.param([{"a": "x", "b": [INF]}], id="list of objects with a list"),
        pytest.param([[[NAN]]], id="nested lists"),
        pytest.param([{"a": [{"b": NAN}]}], id="nested objects"),
        pytest.param(nested(MAX_JSON_NESTING, NAN), id="at the deepest level"),
        pytest.param([NAN, nested(MAX_JSON_NESTING)], id="before a document too deep"),
    ],
)
def test_nan_and_infinity_are_refused_anywhere_in_a_json_list(media: Any) -> None:
    assert f"media: Value error, {NOT_FINITE}" in refusal("post.created", MEDIA_PATH, media)


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({"a": NAN}, id="flat"),
        pytest.param({"a": "x", "b": INF}, id="after a string"),
        pytest.param({"a": [1, 2, -INF]}, id="in a list"),
        pytest.param({"a": {"b": {"c": NAN}}}, id="nested"),
    ],
)
def test_nan_and_infinity_are_refused_anywhere_in_a_json_object(attributes: Any) -> None:
    detail = refusal("order.created", ATTRIBUTES_PATH, attributes)
    assert f"variant_attributes: Value error, {NOT_FINITE}" in detail


@pytest.mark.parametrize(
    ("path", "field", "document"),
    [
        pytest.param(MEDIA_PATH, "media", [JSON_INT_MAX + 1], id="flat list"),
        pytest.param(MEDIA_PATH, "media", [{"size_bytes": 10**40}], id="list of objects"),
        pytest.param(MEDIA_PATH, "media", [[{"a": [JSON_INT_MIN - 1]}]], id="nested"),
        pytest.param(ATTRIBUTES_PATH, "variant_attributes", {"id": 2**64}, id="object"),
    ],
)
def test_integers_past_64_bits_are_refused(
    path: tuple[Any, ...], field: str, document: Any
) -> None:
    """MySQL's JSON type would store them as doubles, rounded: refused, not corrupted."""
    event_type = "post.created" if path is MEDIA_PATH else "order.created"
    detail = refusal(event_type, path, document)
    assert f"{field}: Value error, JSON integers must fit in 64 bits" in detail


def test_the_first_problem_in_document_order_is_the_one_reported() -> None:
    detail = refusal("post.created", MEDIA_PATH, [nested(MAX_JSON_NESTING), NAN])
    assert TOO_DEEP in detail
    assert NOT_FINITE not in detail


@pytest.mark.parametrize(
    "media",
    [
        pytest.param([True, 1, False, 0, None, "s", JSON_INT_MIN, JSON_INT_MAX], id="flat"),
        pytest.param([{"on": True, "one": 1, "off": False, "zero": 0}], id="list of objects"),
        pytest.param([1.5, {"a": -0.0, "b": [1e308, {"c": 5e-324}]}], id="finite floats"),
        pytest.param([], id="empty"),
    ],
)
def test_booleans_ints_and_finite_floats_are_kept_as_they_are(media: Any) -> None:
    event = decoded("post.created", MEDIA_PATH, media)
    assert isinstance(event, PostSnapshot)
    assert event.data.media == media
    assert types_of(event.data.media) == types_of(media)


@pytest.mark.parametrize(
    "document",
    [
        [],
        {},
        ["a", 1, True, None],
        {"a": "x", "b": 1, "c": False, "d": None},
        [{"attribute_name": "Size", "attribute_value": "xl"}, {}],
    ],
)
def test_the_usual_documents_take_the_shortcut(document: Any) -> None:
    assert _plainly_storable(document)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=2))
DOCUMENTS = st.recursive(
    st.one_of(SCALARS, st.lists(st.dictionaries(st.text(max_size=2), SCALARS, max_size=3))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(
    document=DOCUMENTS,
    # Wrapping brings documents to either side of the nesting limit.
    wrappers=st.one_of(st.integers(0, 2), st.integers(MAX_JSON_NESTING - 3, MAX_JSON_NESTING)),
    kinds=st.lists(st.sampled_from([list, dict]), min_size=1, max_size=3),
)
def test_the_json_shortcut_agrees_with_the_full_check(
    document: Any, wrappers: int, kinds: list[type]
) -> None:
    document = nested(wrappers, document, tuple(kinds))
    if not isinstance(document, list | dict):
        document = [document]
    assert outcome(_storable_json, document) == outcome(full_json_check, document)
    if _plainly_storable(document):
        _check_json(document, enclosing=0)


# --- helpers ----------------------------------------------------------------------------------


def outcome(check: Callable[[Any], Any], value: Any) -> tuple[Any, ...]:
    """What a check does with value: its result (type and fold included) or its error."""
    try:
        result = check(value)
    except ValueError as error:  # UnicodeEncodeError too
        return ("refused", type(error), str(error))
    return ("accepted", result, type(result), getattr(result, "fold", None))


def full_json_check(document: Any) -> Any:
    _check_json(document, enclosing=0)
    return document


def types_of(value: Any) -> Any:
    if isinstance(value, list):
        return [types_of(item) for item in value]
    if isinstance(value, dict):
        return {key: types_of(item) for key, item in value.items()}
    return type(value)
