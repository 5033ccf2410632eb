"""Loading events from files: JSON envelopes (one per file) or JSON lines (one per line).

The same batch pipeline as the Kafka consumer; a file stands in for a topic partition and a
line number for an offset, so dead letters say exactly which line of which file failed.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from analytics.deadletters import Source
from analytics.pipeline import BatchOutcome, process_batch
from analytics.secrets import SecretNames
from analytics.sequences import batched

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
TOPIC_LIMIT = 249  # dead_letters.topic
_PREFIX = "file:"


def read_messages(path: Path) -> Iterator[Source]:
    """A `.jsonl`/`.ndjson` file (or `-`, standard input) yields one message per non-blank
    line; any other file is one message."""
    topic = file_topic(path)
    if str(path) == "-":
        yield from _lines(topic, sys.stdin.buffer)
    elif path.suffix in JSON_LINES_SUFFIXES:
        with path.open("rb") as lines:
            yield from _lines(topic, lines)
    else:
        yield Source(topic, 0, 0, None, path.read_bytes())


def file_topic(path: Path) -> str:
    """What a file's dead letters give as their topic: `file:` and the path as given.

    The path is the letter's identity (two files never share letters), so one too long
    for the column is not cut short: its end is kept after the SHA-256 of the whole path.
    """
    topic = f"{_PREFIX}{path}"
    if len(topic) <= TOPIC_LIMIT:
        return topic
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()
    tail = str(path)[len(_PREFIX) + len(digest) + 1 - TOPIC_LIMIT :]
    return f"{_PREFIX}{digest}…{tail}"


def _lines(topic: str, lines: Iterable[bytes]) -> Iterator[Source]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield Source(topic, 0, number, None, line.rstrip(b"\r\n"))


def load(
    engine: sa.Engine,
    messages: Sequence[Source],
    batch_size: int,
    secrets: SecretNames,
    on_batch: Callable[[int], None] = lambda _count: None,
) -> BatchOutcome:
    """Apply `messages` in batches, one transaction per batch."""
    total = BatchOutcome()
    for batch in batched(messages, batch_size):
        now = datetime.now(UTC).replace(tzinfo=None)
        with engine.begin() as connection:
            total.add(process_batch(connection, batch, now, secrets))
        on_batch(len(batch))
    return total
