"""Running the real service against the embedded broker and a real database.

Consumers run as separate processes (`python -m analytics consume`), so that tests can
stop them with SIGTERM or SIGKILL exactly as an orchestrator would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from confluent_kafka import Consumer, Producer, TopicPartition

from analytics import offsets
from analytics.consumer import source_of
from analytics.deadletters import Source
from analytics.errors import InvalidEvent
from analytics.events import TOPICS
from analytics.mapping import map_event
from analytics.pipeline import decode_message, process_batch
from analytics.schema import dead_letters, metadata, tombstones
from analytics.secrets import DEFAULT_SECRETS
from producer_sim import generate, inject_faults
from tests.conftest import empty_tables

GROUP = "mysql-analytics-service"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes | None


def produce(bootstrap: str, records: Iterable[Record]) -> int:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    count = 0
    for record in records:
        producer.produce(record.topic, key=record.key, value=record.value)
        count += 1
        if count % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0, "messages left unsent"
    return count


class ConsumerProcess:
    """One `analytics consume` process, its settings from the environment, logs to a file."""

    def __init__(
        self, bootstrap: str, database_url: str, log_path: Path, **settings: str | int | float
    ) -> None:
        self.log_path = log_path
        env = {
            **os.environ,
            "ANALYTICS_BOOTSTRAP_SERVERS": bootstrap,
            "ANALYTICS_DATABASE_URL": database_url,
            "ANALYTICS_BATCH_SIZE": "200",
            "ANALYTICS_BATCH_MAX_SECONDS": "0.2",
            "ANALYTICS_SESSION_TIMEOUT_MS": "6000",
            "ANALYTICS_METRICS_PORT": "0",
            "ANALYTICS_LOG_FORMAT": "json",
            "ANALYTICS_RETRY_INITIAL_SECONDS": "0.1",
            "ANALYTICS_RETRY_MAX_SECONDS": "1",
        }
        env.update({f"ANALYTICS_{name.upper()}": str(value) for name, value in settings.items()})
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "analytics", "consume"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def wait(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def alive(self) -> bool:
        return self.process.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_events(self) -> list[dict[str, Any]]:
        """The log's events, in order. Every complete line must be one JSON event: the
        service logs through structlog only (librdkafka's lines included), so anything else
        (a traceback, a stray print) is a defect. A last line without its newline is still
        being written and is left for the next call."""
        text = self.logs()
        complete = text[: text.rfind("\n") + 1]
        events = []
        for number, line in enumerate(complete.splitlines(), 1):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(
                    f"line {number} of {self.log_path.name} is not a JSON log event: {line!r}"
                ) from None
        return events

    def stop(self) -> int:
        if self.alive():
            self.send(signal.SIGTERM)
            return self.wait()
        return self.wait()

    def count(self, event: str) -> int:
        """How many structured log lines name `event` (e.g. "batch.committed")."""
        return sum(line["event"] == event for line in self.log_events())


def end_offsets(bootstrap: str) -> dict[tuple[str, int], int]:
    return offsets.end_offsets(bootstrap, TOPICS)


def committed_offsets(bootstrap: str, group: str = GROUP) -> dict[tuple[str, int], int]:
    return offsets.committed_offsets(bootstrap, group, TOPICS)


def wait_caught_up(
    bootstrap: str, consumers: Sequence[ConsumerProcess], timeout: float = 90
) -> None:
    """Until the group has committed every partition's end offset."""
    target = end_offsets(bootstrap)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for consumer in consumers:
            assert consumer.alive(), f"consumer exited early:\n{consumer.logs()[-3000:]}"
        if committed_offsets(bootstrap) == target:
            return
        time.sleep(0.3)
    logs = "\n".join(consumer.logs()[-2000:] for consumer in consumers)
    committed = committed_offsets(bootstrap)
    raise AssertionError(f"not caught up after {timeout}s: {committed} vs {target}\n{logs}")


# Columns that differ between equally correct runs: surrogate ids and wall-clock times.
VOLATILE = {"id", "first_failed_at", "last_failed_at", "replayed_at"}


def table_contents(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, comparable across runs."""
    contents: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in VOLATILE]
            found = connection.execute(sa.select(*columns)).all()
            contents[table.name] = sorted((tuple(row) for row in found), key=repr)
    return contents


def all_messages(bootstrap: str) -> list[Source]:
    """Every message in the broker, partition by partition, read without a group."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": "reference-reader"})
    ends = end_offsets(bootstrap)
    messages: list[Source] = []
    try:
        client.assign([TopicPartition(t, p, 0) for (t, p), end in ends.items() if end > 0])
        remaining = sum(ends.values())
        while remaining:
            for message in client.consume(min(1000, remaining), timeout=5):
                assert message.error() is None, message.error()
                messages.append(source_of(message))
                remaining -= 1
    finally:
        client.close()
    return sorted(messages, key=lambda m: (m.topic, m.partition, m.offset))


def reference_contents(
    bootstrap: str, engine: sa.Engine, batch_size: int = 500
) -> dict[str, list[tuple[Any, ...]]]:
    """The tables one clean, uninterrupted pass over the broker's messages produces."""
    empty_tables(engine)
    messages = all_messages(bootstrap)
    for start in range(0, len(messages), batch_size):
        with engine.begin() as connection:
            batch = messages[start : start + batch_size]
            now = datetime.now(UTC).replace(tzinfo=None)
            process_batch(connection, batch, now, DEFAULT_SECRETS)
    contents = table_contents(engine)
    empty_tables(engine)
    return contents


def simulated_stream(
    count: int, seed: int = 7, duplicates: float = 0.05, stale: float = 0.05, poison: float = 0.02
) -> tuple[list[Record], int]:
    """A realistic stream of `count` clean events plus injected duplicates, stale re-sends
    and poison; returns the records and how many of them are poison."""
    messages = list(
        inject_faults(
            generate(seed, count), seed=seed, duplicates=duplicates, stale=stale, poison=poison
        )
    )
    records = [Record(m.topic, m.key, m.value) for m in messages]
    return records, sum(m.poison is not None for m in messages)


def wait_until(
    condition: Callable[[], bool], timeout: float, describe: Callable[[], str] | str = ""
) -> None:
    """Poll `condition` until it holds; fail with `describe` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = describe() if callable(describe) else describe
            raise AssertionError(f"timed out after {timeout}s {detail}".rstrip())
        time.sleep(0.05)


def effect_is_stored(connection: sa.Connection, message: Source) -> bool:
    """The message's effect is in the database: its dead letter, or its entity's version
    (row or tombstone) at least as new as the event."""
    letter = connection.execute(
        sa.select(dead_letters.c.id).where(
            dead_letters.c.topic == message.topic,
            dead_letters.c.kafka_partition == message.partition,
            dead_letters.c.kafka_offset == message.offset,
        )
    ).first()
    if letter is not None:
        return True
    try:
        change = map_event(decode_message(message, DEFAULT_SECRETS))
    except InvalidEvent:
        return False
    (key,) = change.table.primary_key.columns
    version = connection.execute(
        sa.select(change.table.c.event_timestamp).where(key == change.entity_id)
    ).scalar()
    deleted = connection.execute(
        sa.select(tombstones.c.deleted_at).where(
            tombstones.c.entity_table == change.table.name,
            tombstones.c.entity_id == change.entity_id,
        )
    ).scalar()
    return any(stamp is not None and stamp >= change.timestamp for stamp in (version, deleted))


def dead_letter_coordinates(engine: sa.Engine) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of every dead letter."""
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(
                dead_letters.c.topic, dead_letters.c.kafka_partition, dead_letters.c.kafka_offset
            )
        ).all()
    return {(topic, partition, offset) for topic, partition, offset in found}
