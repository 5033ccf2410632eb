"""Hypothesis strategies for hostile Kafka messages.

A message starts from one of the contract's sample events (so unmutated ones are valid and
touch a small shared pool of entities), then suffers zero or more mutations: a field set to
a value of the wrong type, out of range or far too long, a field removed, an extra field
added. Its bytes may then be broken further: invalid UTF-8, cut short, replaced by
garbage, by JSON that is not an object, by JSON nested thousands of levels deep, or by no
value at all; and it may arrive on another topic than its event type's.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from analytics.events import TOPICS, topic_of
from tests.samples import all_sample_types, sample_dict

Document = dict[str, Any]
FieldPath = tuple[str | int, ...]

SAMPLE_TYPES = all_sample_types()

# Entities of one topic are drawn from the ids its samples use plus one more, so that
# creates, updates and deletes of the same entity meet in a batch.
EXTRA_ENTITY = "000000000000000000000001"
ENTITIES: dict[str, list[str]] = {
    topic: sorted(
        {sample_dict(t)["entity_id"] for t in SAMPLE_TYPES if topic_of(t) == topic} | {EXTRA_ENTITY}
    )
    for topic in TOPICS
}
DELETE_ID_FIELDS = ("user_id", "supplier_id", "product_id", "post_id")

# Envelope timestamps: a few instants (ties and reorderings), written with several offsets.
BASE = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
INSTANTS = [BASE + timedelta(seconds=s) for s in (0, 0, 1, 2)]
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))]

OUT_OF_RANGE_DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:00",
    "0999-12-31T23:59:59Z",
    "0999-12-31T23:59:59-01:00",  # year 1000 once in UTC: in range
    "1000-01-01T00:00:00+00:30",  # year 999 once in UTC
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999+00:00",
    "9999-12-31T23:59:59-05:00",  # year 10000 once in UTC
    "2025-13-01T00:00:00Z",
    "2025-00-10T00:00:00Z",
    "2025-02-29T00:00:00Z",
    "2024-02-29T23:59:60Z",
    "2025-01-15T24:00:00Z",
    "2025-01-15T10:00:00+24:00",
    "2025-01-15T10:00:00",
    "2025-01-15T10:00:00.1234567Z",
    "2025-01-15 10:00:00Z",
    "2025-01-15",
    "20250115T100000Z",
    "1736935200",
    "",
    "not-a-date",
]

INTEGERS = [
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**53 + 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**40,
]
FLOATS = [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, 1.5, 2.0**31]

TRICKY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: no UTF-8 encoding exists
    "\udfff tail",
    "\ufeffBOM",
    "Red",
    "red ",
    "réd",
    "ＲＥＤ",
    "😀" * 25,
    "' OR 1=1; DROP TABLE users;--",
    '{"nested": "json in a string"}',
    "\\u0000",
    "line\nbreak",
]


def _repeat(unit: str, count: int) -> str:
    return unit * count


# Beyond every column: VARCHAR(2..500) limits, and TEXT's 65,535 UTF-8 bytes (in ASCII,
# two-byte and four-byte characters).
HUGE_STRINGS = st.one_of(
    st.builds(
        _repeat,
        st.sampled_from(["x", "é", "🧶"]),
        st.sampled_from([3, 21, 25, 37, 51, 101, 201, 256, 501, 1001]),
    ),
    st.sampled_from(
        [
            ("x", 65_535),
            ("x", 65_536),
            ("x", 70_000),
            ("é", 32_768),
            ("🧶", 16_383),
            ("🧶", 16_384),
        ]
    ).map(lambda spec: _repeat(*spec)),
)


def nest(depth: int, innermost: Any, as_object: bool) -> Any:
    value = innermost
    for level in range(depth):
        value = {f"k{level}": value} if as_object else [value]
    return value


# JSON nested around MariaDB's (32) and MySQL's (100) limits, and beyond them.
DEEP = st.builds(
    nest,
    st.sampled_from([31, 32, 33, 99, 100, 101, 200, 201, 256]),
    st.sampled_from([1, "x", None, []]),
    st.booleans(),
)

# Deeper still, written as text (copying or encoding such values in Python would itself
# hit the recursion limit): from a few hundred levels to kilobytes of brackets.
DEEP_TEXT_LEVELS = [300, 500, 999, 1_000, 5_000, 20_000]


def deep_text(levels: int, as_object: bool, secret: bool) -> bytes:
    """A JSON envelope whose `data` is nested `levels` deep; with a secret field first."""
    opening, closing = (b'{"a":', b"}") if as_object else (b"[", b"]")
    head = b'{"event_type": "user.created", '
    if secret:
        head += b'"password_hash": "x", '
    return head + b'"data": ' + opening * levels + b"1" + closing * levels + b"}"


DATES = st.one_of(
    st.sampled_from(OUT_OF_RANGE_DATES),
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]
        ),
    ).map(lambda instant: instant.isoformat()),
)

SMALL_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)

# Drawn values are copied: sampled lists and objects are shared, and mutations write into them.
WEIRD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(INTEGERS),
    st.floats(),
    st.sampled_from(FLOATS),
    st.text(max_size=30),
    st.sampled_from(TRICKY_STRINGS),
    HUGE_STRINGS,
    DATES,
    DEEP,
    SMALL_JSON,
    st.sampled_from([[], {}, [None], {"": None}]),
).map(copy.deepcopy)

EXTRA_KEYS = st.one_of(
    st.sampled_from(
        ["password_hash", "banking_info", "id", "event_type", "entity_id", "data", "__proto__"]
    ),
    st.text(max_size=12),
)


# Mutations reach this deep at most, so that they never descend into a deeply nested value
# an earlier mutation put there.
MUTATION_DEPTH = 8


def paths(node: Any, prefix: FieldPath = ()) -> list[FieldPath]:
    """Every path below `node` (not `node` itself), down to MUTATION_DEPTH."""
    found: list[FieldPath] = []
    if len(prefix) >= MUTATION_DEPTH:
        return found
    if isinstance(node, dict):
        items: list[tuple[str | int, Any]] = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return found
    for key, child in items:
        found.append((*prefix, key))
        found += paths(child, (*prefix, key))
    return found


def containers(document: Document) -> list[FieldPath]:
    """The paths of every object in `document`, itself included."""
    return [()] + [p for p in paths(document) if isinstance(at(document, p), dict)]


def at(document: Any, path: FieldPath) -> Any:
    for step in path:
        document = document[step]
    return document


@st.composite
def envelopes(draw: st.DrawFn) -> Document:
    """A sample event, re-aimed at an entity of the pool, with 0-3 mutations."""
    event_type = draw(st.sampled_from(SAMPLE_TYPES))
    envelope = copy.deepcopy(sample_dict(event_type))
    original = envelope["entity_id"]
    entity = draw(st.sampled_from(ENTITIES[topic_of(event_type)]))
    envelope["entity_id"] = entity
    data = envelope.get("data")
    if isinstance(data, dict):
        for name in ("id", *DELETE_ID_FIELDS):
            if data.get(name) == original:
                data[name] = entity
    envelope["event_id"] = str(draw(st.uuids()))
    instant = draw(st.sampled_from(INSTANTS)).astimezone(draw(st.sampled_from(OFFSETS)))
    envelope["timestamp"] = instant.isoformat()
    for _ in range(draw(st.integers(0, 3))):
        mutate(draw, envelope)
    return envelope


def edge_values(current: Any) -> st.SearchStrategy[Any]:
    """Values of the same JSON kind as `current`, at and beyond the columns' limits."""
    if isinstance(current, bool) or current is None:
        return WEIRD_VALUES
    if isinstance(current, int):
        return st.sampled_from(INTEGERS) | st.integers(-(2**32), 2**32)
    if isinstance(current, float):
        return st.sampled_from(FLOATS) | st.floats()
    if isinstance(current, str):
        return HUGE_STRINGS | st.sampled_from(TRICKY_STRINGS) | DATES
    return DEEP | SMALL_JSON


def mutate(draw: st.DrawFn, envelope: Document) -> None:
    kind = draw(st.sampled_from(["set", "edge", "edge", "drop", "extra"]))
    if kind == "extra":
        container = at(envelope, draw(st.sampled_from(containers(envelope))))
        container[draw(EXTRA_KEYS)] = draw(WEIRD_VALUES)
        return
    candidates = paths(envelope)
    if not candidates:
        return
    path = draw(st.sampled_from(candidates))
    parent = at(envelope, path[:-1])
    if kind == "set":
        parent[path[-1]] = draw(WEIRD_VALUES)
    elif kind == "edge":
        parent[path[-1]] = copy.deepcopy(draw(edge_values(parent[path[-1]])))
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])


@dataclass(frozen=True)
class Fuzzed:
    topic: str
    key: bytes | None
    value: bytes | None
    shape: str  # how the value was made, for the statistics

    def describe(self) -> str:
        shown = repr(self.value[:300]) if self.value is not None else "None"
        size = len(self.value) if self.value is not None else 0
        return f"{self.topic} {self.shape} ({size} bytes): {shown}"

    def __repr__(self) -> str:
        # Values run to hundreds of kilobytes: failure reports show their start and size.
        return f"Fuzzed({self.describe()})"


def encode(envelope: Any, ascii_only: bool) -> bytes:
    """JSON as a careless producer writes it: NaN and Infinity allowed, lone surrogates
    passed through (which makes the bytes invalid UTF-8)."""
    return json.dumps(envelope, ensure_ascii=ascii_only, allow_nan=True).encode(
        "utf-8", "surrogatepass"
    )


INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\x80", b"\xc0\xaf"]


@st.composite
def messages(draw: st.DrawFn) -> Fuzzed:
    envelope = draw(envelopes())
    event_type = envelope.get("event_type")
    home = topic_of(event_type) if isinstance(event_type, str) else None
    # Mostly the event type's own topic; sometimes any topic.
    if home is not None and home in TOPICS and draw(st.integers(0, 9)) > 0:
        topic = home
    else:
        topic = draw(st.sampled_from(TOPICS))
    entity = envelope.get("entity_id")
    key = entity.encode("utf-8", "surrogatepass") if isinstance(entity, str) else None
    shape = draw(
        st.sampled_from(
            ["json"] * 12
            + ["invalid_utf8", "truncated", "garbage", "not_an_object", "deeply_nested", "no_value"]
        )
    )
    value: bytes | None
    encoded = encode(envelope, draw(st.booleans()))
    if shape == "json":
        value = encoded
    elif shape == "invalid_utf8":
        position = draw(st.integers(0, len(encoded)))
        value = encoded[:position] + draw(st.sampled_from(INVALID_UTF8)) + encoded[position:]
    elif shape == "truncated":
        value = encoded[: draw(st.integers(0, len(encoded) - 1))]
    elif shape == "garbage":
        value = draw(st.binary(max_size=200))
    elif shape == "not_an_object":
        not_an_object = st.lists(SMALL_JSON, max_size=3) | st.just([envelope]) | WEIRD_VALUES
        drawn = draw(not_an_object)
        value = encode([] if isinstance(drawn, dict) else drawn, ascii_only=True)
    elif shape == "deeply_nested":
        levels = draw(st.sampled_from(DEEP_TEXT_LEVELS))
        value = deep_text(levels, draw(st.booleans()), secret=draw(st.booleans()))
    else:
        value = None
    return Fuzzed(topic, key, value, shape)
