"""The simulated events of one bench run, generated once and read back as often as needed.

Generating costs about as much CPU as consuming, so it happens before any measurement;
the messages go to a file rather than memory so that a large run does not hold them all.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from analytics.events import TOPICS
from producer_sim import generate

_HEADER = struct.Struct("<BHI")  # topic index, key length, value length


class SpooledMessage(NamedTuple):
    topic: str
    key: bytes
    value: bytes


class Spool:
    """`count` messages of `producer_sim.generate(seed, count)`, in order, in one file."""

    def __init__(self, path: Path, count: int, size: int) -> None:
        self.path = path
        self.count = count
        self.size = size

    @property
    def average_size(self) -> float:
        return self.size / self.count if self.count else 0.0

    @classmethod
    def generate(
        cls,
        path: Path,
        seed: int,
        count: int,
        on_progress: Callable[[int], None] = lambda _done: None,
    ) -> Spool:
        size = 0
        with path.open("wb") as out:
            for number, message in enumerate(generate(seed, count), start=1):
                topic = TOPICS.index(message.topic)
                out.write(_HEADER.pack(topic, len(message.key), len(message.value)))
                out.write(message.key)
                out.write(message.value)
                size += len(message.value)
                if number % 1000 == 0:
                    on_progress(number)
        on_progress(count)
        return cls(path, count, size)

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[SpooledMessage]:
        """Messages start..stop-1 (in generation order)."""
        return islice(self._all(), start, stop)

    def _all(self) -> Iterator[SpooledMessage]:
        with self.path.open("rb") as spool:
            while True:
                header = spool.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return
                topic, key_length, value_length = _HEADER.unpack(header)
                key = spool.read(key_length)
                value = spool.read(value_length)
                yield SpooledMessage(TOPICS[topic], key, value)
