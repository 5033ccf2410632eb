"""Fault injection: re-sends are exact copies, poison never decodes, the clean stream survives."""

from __future__ import annotations

import json
import random
from collections import Counter
from functools import cache

import pytest

from analytics.errors import InvalidEvent
from analytics.events import EVENT_TYPES, decode_event
from producer_sim import Message, PoisonKind, PoisonMaker, Resend, generate, inject_faults

CLEAN = 2000


@cache
def clean(seed: int = 21) -> tuple[Message, ...]:
    return tuple(generate(seed, CLEAN))


@cache
def faulty(seed: int = 21, rate: float = 0.15) -> tuple[Message, ...]:
    return tuple(inject_faults(clean(seed), seed=seed, duplicates=rate, stale=rate, poison=rate))


def timestamp(message: Message) -> str:
    stamp: str = json.loads(message.value)["timestamp"]
    return stamp


def test_the_clean_stream_is_the_unmarked_subsequence() -> None:
    assert tuple(m for m in faulty() if not m.injected) == clean()


def test_every_kind_of_fault_is_injected_at_about_its_rate() -> None:
    counts = Counter(m.poison or m.resend for m in faulty() if m.injected)
    for kind in (Resend.DUPLICATE, Resend.STALE):
        assert 0.1 * CLEAN < counts[kind] < 0.2 * CLEAN
    poison = sum(count for kind, count in counts.items() if isinstance(kind, PoisonKind))
    assert 0.1 * CLEAN < poison < 0.2 * CLEAN
    assert set(PoisonKind) <= set(counts)


def test_the_same_seed_gives_the_same_faults() -> None:
    again = tuple(inject_faults(clean(), seed=21, duplicates=0.15, stale=0.15, poison=0.15))
    assert again == faulty()
    other = tuple(inject_faults(clean(), seed=22, duplicates=0.15, stale=0.15, poison=0.15))
    assert other != faulty()


def test_each_rate_has_its_own_randomness() -> None:
    only_duplicates = [m for m in inject_faults(clean(), seed=21, duplicates=0.15) if m.injected]
    assert only_duplicates == [m for m in faulty() if m.resend is Resend.DUPLICATE]


def test_no_faults_at_zero_rates() -> None:
    assert tuple(inject_faults(clean(), seed=5)) == clean()


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rates_must_be_probabilities(rate: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        inject_faults(clean(), poison=rate)


def test_re_sends_are_identical_copies_of_earlier_messages_of_the_same_key() -> None:
    seen: list[Message] = []
    for message in faulty():
        if message.resend is not None:
            copies = [m for m in seen if m.value == message.value and not m.injected]
            assert copies, f"{message.resend} of a message never sent"
            original = copies[0]
            assert (message.topic, message.key, message.event_type) == (
                original.topic,
                original.key,
                original.event_type,
            )
            assert message.poison is None
        seen.append(message)


def test_re_sends_never_change_a_read_model_that_keeps_the_newest() -> None:
    """Each re-send is older than its entity's newest message so far (so it is skipped as
    stale), or is that newest message itself (so applying it again changes nothing)."""
    newest: dict[bytes, Message] = {}
    stale = 0
    for message in faulty():
        if message.poison is not None:
            continue
        if message.resend is None:
            newest[message.key] = message
            continue
        latest = newest[message.key]
        assert message.value == latest.value or timestamp(message) < timestamp(latest)
        if message.resend is Resend.STALE:
            assert timestamp(message) < timestamp(latest)
            stale += 1
    assert stale > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poison_never_decodes(seed: int) -> None:
    stream = inject_faults(generate(seed, 1500), seed=seed, poison=0.5)
    poison = [message for message in stream if message.poison is not None]
    assert len(poison) > 500
    for message in poison:
        with pytest.raises(InvalidEvent):
            decode_event(message.value)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_kind_of_poison_applies_to_every_event_type(event_type: str) -> None:
    source = next(m for m in clean() if m.event_type == event_type)
    maker = PoisonMaker(random.Random(event_type))
    for kind in maker.kinds_for(source):
        for _ in range(15):
            poison = maker.make(source, kind)
            assert poison.poison is kind
            with pytest.raises(InvalidEvent):
                decode_event(poison.value)


def test_poison_is_keyed_and_routed_like_real_traffic_and_fits_on_a_line() -> None:
    values = set()
    for message in faulty():
        if message.poison is None:
            continue
        assert message.topic in ("user", "supplier", "product", "post", "order")
        assert len(message.key) == 24
        assert message.value.strip()
        assert b"\n" not in message.value
        assert b"\r" not in message.value
        values.add(message.value)
        if message.poison is PoisonKind.UNKNOWN_EVENT_TYPE:
            assert message.event_type.startswith(message.topic + ".")
            assert message.event_type not in EVENT_TYPES
    clean_values = {message.value for message in clean()}
    assert not values & clean_values


def test_named_poison_examples() -> None:
    source = next(m for m in clean() if m.event_type == "user.updated")
    maker = PoisonMaker(random.Random(0))
    for _ in range(40):
        oversized = json.loads(maker.make(source, PoisonKind.OVERSIZED).value)
        name = oversized["data"]["profile"]["display_name"]
        if len(name) == 500:
            break
    else:
        pytest.fail("no 500-character display_name")
    garbage = maker.make(source, PoisonKind.GARBAGE).value
    with pytest.raises(UnicodeDecodeError):
        garbage.decode()
    unknown = maker.make(source, PoisonKind.UNKNOWN_EVENT_TYPE)
    assert json.loads(unknown.value)["event_type"] == unknown.event_type


def test_a_marked_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="clean stream"):
        list(inject_faults(faulty(), seed=1, poison=0.1))
