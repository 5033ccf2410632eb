"""Seeded building blocks: identifiers, a simulated clock and pools to pick entities from.

Everything draws from the `random.Random` it is given, never from the global generator or
the wall clock, so one seed always gives the same world.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")
_MICROSECOND = timedelta(microseconds=1)

START = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
# The longest step of the simulated clock: n events never span more than n times this.
MAX_TICK = timedelta(microseconds=2_500_000)


def object_id(rng: random.Random) -> str:
    """A MongoDB-like ObjectId: 24 lowercase hex characters."""
    return f"{rng.getrandbits(96):024x}"


def uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[rng.randrange(len(items))]


def maybe(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


class Clock:
    """Simulated time: starts at a fixed instant and moves forward by small random steps.

    Every tick is strictly later than the previous one, so no two events share a timestamp.
    """

    def __init__(self, rng: random.Random, start: datetime = START) -> None:
        self._rng = rng
        self.now = start

    def tick(self) -> datetime:
        self.now += timedelta(microseconds=self._rng.randint(1_000, MAX_TICK // _MICROSECOND))
        return self.now


class Pool(Generic[T]):
    """Items keyed by id, with O(1) add, remove and seeded random choice.

    Iteration order and choices depend only on the sequence of operations (never on string
    hashing), which keeps runs reproducible across processes.
    """

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._items: list[T] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def add(self, key: str, item: T) -> None:
        if key in self._index:
            return
        self._index[key] = len(self._keys)
        self._keys.append(key)
        self._items.append(item)

    def remove(self, key: str) -> None:
        position = self._index.pop(key, None)
        if position is None:
            return
        last_key, last_item = self._keys.pop(), self._items.pop()
        if position < len(self._keys):
            self._keys[position], self._items[position] = last_key, last_item
            self._index[last_key] = position

    def get(self, key: str) -> T | None:
        position = self._index.get(key)
        return None if position is None else self._items[position]

    def choice(self, rng: random.Random) -> T:
        return self._items[rng.randrange(len(self._items))]

    def sample(self, rng: random.Random, count: int) -> list[T]:
        """`count` distinct items (fewer when the pool is smaller)."""
        positions = rng.sample(range(len(self._items)), min(count, len(self._items)))
        return [self._items[position] for position in positions]
