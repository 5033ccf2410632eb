# Look-alike letters and 4-byte characters are the point.
# ruff: noqa: RUF001
"""Faults a consumer must survive, layered over a clean stream with their own seeded RNG.

- duplicates: a message of the stream delivered again, byte for byte, a little later
  (up to `max_delay` clean messages later), as at-least-once delivery does;
- stale re-sends: right after an entity's newer message, one of its older messages again,
  byte for byte, as a retrying or replaying producer does;
- poison: messages that can never become a valid event (garbage and invalid UTF-8 bytes,
  truncated JSON, JSON that is not an object, missing or mistyped fields, integers beyond
  32 bits, oversized strings, unknown event types, a document naming another entity).
  Each is keyed and routed like the clean message it was made from, and carries a fresh
  event_id, so it is distinguishable from every other message.

Injected messages are marked on the `Message` (`poison` with the kind, or `resend`), never
in their bytes. Every clean message passes through unchanged and in order, so the clean
stream is exactly the unmarked subsequence; duplicates and stale re-sends are copies of
earlier messages of the same key, which an idempotent consumer absorbs without changing
its read model. Each fault kind draws from its own RNG, so changing one rate does not
reshuffle the others.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from producer_sim.message import Message, PoisonKind, Resend, encode_json, topic_of
from producer_sim.randomness import object_id, pick, uuid4

DEFAULT_MAX_DELAY = 20
HISTORY_PER_KEY = 8

# Placeholder in a path for "the first key of this object".
FIRST_KEY = "*"

FieldPath = tuple[str | int, ...]
Factory = Callable[[random.Random], Any]

_DELETE_ID_FIELDS = {
    "user.deleted": "user_id",
    "supplier.deleted": "supplier_id",
    "product.deleted": "product_id",
    "post.deleted": "post_id",
}

_ENVELOPE_FIELDS: tuple[FieldPath, ...] = (
    ("event_type",),
    ("event_id",),
    ("timestamp",),
    ("entity_id",),
)

_BAD_TIMESTAMPS = (
    "not-a-date",
    "yesterday",
    "",
    "2025-13-45T25:61:00+00:00",
    "0999-12-31T00:00:00+00:00",
    "9999-12-31T23:59:59-05:00",
)

_UNKNOWN_VERBS = ("exploded", "merged", "archived", "teleported", "created_v2", "Created")


def _long_text(characters: int) -> Factory:
    """A string of `characters` characters mixing ASCII, accents and 4-byte emoji."""

    def make(rng: random.Random) -> str:
        return "".join(pick(rng, "abcdeéñøz 😀𝓯🧶") for _ in range(characters))

    return make


def _hex(characters: int) -> Factory:
    def make(rng: random.Random) -> str:
        return f"{rng.getrandbits(4 * characters):0{characters}x}"

    return make


def _const(value: Any) -> Factory:
    return lambda _rng: value


# Per kind of clean event: (path, value) changes that break the contract.
_WRONG_TYPES: dict[str, tuple[tuple[FieldPath, Any], ...]] = {
    "user": (
        (("data", "version"), "2"),
        (("data", "profile", "display_name"), 12345),
        (("data", "contact_info"), "ravi@example.com"),
    ),
    "supplier": (
        (("data", "contact_info", "primary_phone"), 5550199),
        (("data", "company_info", "business_address"), ["123 Main St"]),
    ),
    "product": (
        (("data", "base_price_cents"), "1999"),
        (("data", "base_price_cents"), 19.99),
        (("data", "variants"), []),
        (("data", "variants", FIRST_KEY, "quantity"), "12"),
    ),
    "post": (
        (("data", "stats", "view_count"), "12"),
        (("data", "media"), {"media_url": "https://cdn.example.com/p/1.jpg"}),
        (("data", "author", "user_id"), 42),
    ),
    "order": (
        (("data", "items", 0, "quantity"), "3"),
        (("data", "items"), {}),
        (("data", "customer", "user_id"), None),
    ),
    "cancel": ((("data", "order_number"), 12345),),
}

_OVERFLOWS: dict[str, tuple[tuple[FieldPath, Any], ...]] = {
    "user": ((("data", "version"), 2**31),),
    "product": (
        (("data", "base_price_cents"), 2**31),
        (("data", "stats", "view_count"), 2**40),
        (("data", "variants", FIRST_KEY, "price_cents"), -(2**31) - 1),
    ),
    "post": ((("data", "stats", "like_count"), 2**35),),
    "order": (
        (("data", "items", 0, "total_cents"), 2**33),
        (("data", "items", 0, "unit_price_cents"), 2**31),
    ),
}

_OVERSIZED: dict[str, tuple[tuple[FieldPath, Factory], ...]] = {
    "user": (
        (("data", "profile", "display_name"), _long_text(500)),
        (("data", "profile", "bio"), _long_text(501)),
        (("data", "contact_info", "phone"), _const("+1-555-0199 " * 5)),
    ),
    "supplier": (
        (("data", "company_info", "legal_name"), _long_text(201)),
        (("data", "company_info", "business_address", "country"), _const("USA")),
        (
            ("data", "company_info", "business_address", "zip_code"),
            _const("73301-0000-0000-0000-1"),
        ),
    ),
    "product": (
        (("data", "name"), _long_text(300)),
        (("data", "category"), _long_text(51)),
        (("data", "status"), _const("discontinued_pending_review")),
    ),
    "post": (
        (("data", "author", "display_name"), _long_text(201)),
        (("data", "post_type"), _const("carousel_with_music_v2")),
        # 17,000 emoji: few characters, but more UTF-8 bytes than a TEXT column holds.
        (("data", "text_content"), _const("🧶" * 17_000)),
    ),
    "order": (
        (("data", "order_number"), _hex(51)),
        (("data", "shipping_address", "country"), _const("USA")),
        (("data", "items", 0, "product_snapshot", "product_id"), _hex(25)),
    ),
    "cancel": ((("data", "order_number"), _hex(60)),),
}

_MISSING: dict[str, tuple[FieldPath, ...]] = {
    "user": (("data",), ("data", "created_at"), ("data", "profile")),
    "supplier": (("data", "contact_info", "primary_email"), ("data", "company_info")),
    "product": (("data", "supplier_id"), ("data", "name"), ("data", "updated_at")),
    "post": (("data", "author"), ("data", "post_type")),
    "order": (("data", "customer"), ("data", "order_number")),
    "cancel": (("data", "order_number"), ("data",)),
}


def _family(event_type: str) -> str:
    """Which table of changes applies: the topic for snapshots, else delete or cancel."""
    if event_type in _DELETE_ID_FIELDS:
        return "delete"
    if event_type == "order.cancelled":
        return "cancel"
    return topic_of(event_type)


def _resolve(document: Any, path: FieldPath) -> tuple[Any, str | int]:
    """The container holding the last step of `path`, and that step's key."""
    node = document
    for step in path[:-1]:
        node = node[_key(node, step)]
    return node, _key(node, path[-1])


def _key(node: Any, step: str | int) -> str | int:
    return next(iter(node)) if step == FIRST_KEY else step


def _set(document: Any, path: FieldPath, value: Any) -> None:
    container, key = _resolve(document, path)
    container[key] = value


def _drop(document: Any, path: FieldPath) -> None:
    container, key = _resolve(document, path)
    del container[key]


class PoisonMaker:
    """Makes one poison message of a given (or random) kind from a clean message."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def kinds_for(self, source: Message) -> list[PoisonKind]:
        family = _family(source.event_type)
        kinds = [
            PoisonKind.GARBAGE,
            PoisonKind.INVALID_UTF8,
            PoisonKind.TRUNCATED,
            PoisonKind.NOT_AN_OBJECT,
            PoisonKind.MISSING_FIELD,
            PoisonKind.BAD_TIMESTAMP,
            PoisonKind.UNKNOWN_EVENT_TYPE,
            PoisonKind.WRONG_TYPE,
            PoisonKind.OVERSIZED,
        ]
        if family in _OVERFLOWS:
            kinds.append(PoisonKind.INT_OVERFLOW)
        if family not in ("delete", "cancel"):
            kinds.append(PoisonKind.ENTITY_MISMATCH)
        return kinds

    def make(self, source: Message, kind: PoisonKind | None = None) -> Message:
        rng = self.rng
        if kind is None:
            kind = pick(rng, self.kinds_for(source))
        envelope: dict[str, Any] = json.loads(source.value)
        envelope["event_id"] = uuid4(rng)
        fresh = encode_json(envelope)
        event_type = source.event_type
        family = _family(source.event_type)
        value: bytes
        if kind is PoisonKind.GARBAGE:
            junk = bytes(pick(rng, _GARBAGE_BYTES) for _ in range(rng.randint(4, 120)))
            value = b"\xff" + junk
        elif kind is PoisonKind.INVALID_UTF8:
            at = rng.randrange(1, len(fresh))
            value = fresh[:at] + pick(rng, _INVALID_UTF8) + fresh[at:]
        elif kind is PoisonKind.TRUNCATED:
            value = fresh[: rng.randrange(1, len(fresh) - 1)]
        elif kind is PoisonKind.NOT_AN_OBJECT:
            shape = rng.randrange(3)
            not_object: Any = [envelope] if shape == 0 else fresh.decode() if shape == 1 else 42
            value = encode_json(not_object)
        elif kind is PoisonKind.UNKNOWN_EVENT_TYPE:
            event_type = f"{source.topic}.{pick(rng, _UNKNOWN_VERBS)}"
            envelope["event_type"] = event_type
            value = encode_json(envelope)
        elif kind is PoisonKind.BAD_TIMESTAMP:
            envelope["timestamp"] = pick(rng, _BAD_TIMESTAMPS)
            value = encode_json(envelope)
        elif kind is PoisonKind.MISSING_FIELD:
            _drop(envelope, pick(rng, _ENVELOPE_FIELDS + _MISSING.get(family, ())))
            value = encode_json(envelope)
        elif kind is PoisonKind.ENTITY_MISMATCH:
            _set(envelope, ("data", "id"), object_id(rng))
            value = encode_json(envelope)
        else:
            value = encode_json(self._mistyped(envelope, family, kind, source.event_type))
        return Message(source.topic, source.key, value, event_type, poison=kind)

    def _mistyped(
        self, envelope: dict[str, Any], family: str, kind: PoisonKind, event_type: str
    ) -> dict[str, Any]:
        rng = self.rng
        if kind is PoisonKind.WRONG_TYPE:
            choices = list(_WRONG_TYPES.get(family, ()))
            if family == "delete":
                choices.append((("data", _DELETE_ID_FIELDS[event_type]), 12345))
            choices.append((("entity_id",), 12345))
            path, wrong = pick(rng, choices)
            _set(envelope, path, wrong)
        elif kind is PoisonKind.INT_OVERFLOW:
            path, huge = pick(rng, _OVERFLOWS[family])
            _set(envelope, path, huge)
        else:
            oversized = list(_OVERSIZED.get(family, ()))
            if family == "delete":
                oversized.append((("data", _DELETE_ID_FIELDS[event_type]), _hex(30)))
            path, factory = pick(rng, oversized)
            _set(envelope, path, factory(rng))
        return envelope


# Never a line break: JSON-lines files hold one message per line.
_GARBAGE_BYTES = bytes(b for b in range(256) if b not in (0x0A, 0x0D))
_INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\x80\x80", b"\xfe")


def _check_rate(name: str, rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} rate must be between 0 and 1, not {rate}")


def inject_faults(
    messages: Iterable[Message],
    *,
    seed: int = 0,
    duplicates: float = 0.0,
    stale: float = 0.0,
    poison: float = 0.0,
    max_delay: int = DEFAULT_MAX_DELAY,
) -> Iterator[Message]:
    """`messages` with faults added; each rate is a probability per clean message.

    Every clean message is passed on, in order; injected messages come on top of them.
    Arguments are checked at once (ValueError), not when iteration starts.
    """
    _check_rate("duplicates", duplicates)
    _check_rate("stale", stale)
    _check_rate("poison", poison)
    if max_delay < 0:
        raise ValueError("max_delay must not be negative")
    return _inject(messages, seed, duplicates, stale, poison, max_delay)


def _inject(
    messages: Iterable[Message],
    seed: int,
    duplicates: float,
    stale: float,
    poison: float,
    max_delay: int,
) -> Iterator[Message]:
    duplicate_rng = random.Random(f"{seed}:duplicates")
    stale_rng = random.Random(f"{seed}:stale")
    poison_rng = random.Random(f"{seed}:poison")
    poison_maker = PoisonMaker(poison_rng)
    history: dict[bytes, deque[Message]] = {}
    pending: deque[tuple[int, Message]] = deque()  # (due after this many clean messages, copy)
    for position, message in enumerate(messages):
        if message.injected:
            raise ValueError("inject_faults expects a clean stream")
        yield message
        earlier = history.setdefault(message.key, deque(maxlen=HISTORY_PER_KEY))
        if earlier and stale and stale_rng.random() < stale:
            older = pick(stale_rng, list(earlier))
            yield dataclasses.replace(older, resend=Resend.STALE)
        earlier.append(message)
        if duplicates and duplicate_rng.random() < duplicates:
            due = position + duplicate_rng.randint(0, max_delay)
            copy = dataclasses.replace(message, resend=Resend.DUPLICATE)
            _insert_sorted(pending, due, copy)
        if poison and poison_rng.random() < poison:
            yield poison_maker.make(message)
        while pending and pending[0][0] <= position:
            yield pending.popleft()[1]
    while pending:
        yield pending.popleft()[1]


def _insert_sorted(pending: deque[tuple[int, Message]], due: int, message: Message) -> None:
    """Keep `pending` ordered by due position; equal positions keep their arrival order."""
    index = len(pending)
    while index > 0 and pending[index - 1][0] > due:
        index -= 1
    pending.insert(index, (due, message))
