"""Where one consumer's time goes: microseconds per event for each stage of a batch.

The stages are the service's own functions, called one after the other as
`pipeline.process_batch` and `dal.apply` call them, each timed on its own in this process
over the same events:

- decode: `decode_message`, JSON text → the typed, checked event (pydantic-core parses and
  validates in one pass, so the two have no separate times to take);
- map: `map_event`, event → row operations;
- read: `load_state`, the client's side of reading versions, tombstones and key owners;
- plan: `plan`, verdicts, folding and rounds (pure);
- render: `write` without the statements' time on the wire, i.e. building the SQL text;
- server: wall time inside the driver's execute calls (the server's work and the round
  trips; the client waits);
- commit: wall time of the transaction's commit.

Every stage but server and commit is process CPU time; server and commit are wall time,
because the work is the server's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa

from analytics.bench.database import BenchError
from analytics.bench.spool import SpooledMessage
from analytics.dal.apply import load_state, write
from analytics.dal.plan import plan
from analytics.db import create_engine
from analytics.deadletters import Source
from analytics.mapping import map_event
from analytics.pipeline import DEFAULT_MAX_FUTURE_SKEW, decode_message, tune_garbage_collector
from analytics.secrets import DEFAULT_SECRETS

STAGES = ("decode", "map", "read", "plan", "render", "server", "commit")
WALL_STAGES = frozenset({"server", "commit"})


@dataclass(frozen=True)
class StageCosts:
    events: int
    batch_size: int
    seconds: dict[str, float]  # per stage, over all events

    def microseconds_per_event(self, stage: str) -> float:
        return 1e6 * self.seconds[stage] / self.events if self.events else 0.0

    @property
    def total_microseconds_per_event(self) -> float:
        return sum(self.microseconds_per_event(stage) for stage in STAGES)


@dataclass
class _Wire:
    """Time spent inside the driver's execute calls, as wall and as this process's CPU."""

    wall: float = 0.0
    cpu: float = 0.0
    _started: list[tuple[float, float]] = field(default_factory=list)

    def before(self, *_args: Any) -> None:
        self._started.append((time.perf_counter(), time.process_time()))

    def after(self, *_args: Any) -> None:
        wall, cpu = self._started.pop()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu


@contextmanager
def _cpu(totals: dict[str, float], stage: str, wire: _Wire) -> Iterator[None]:
    """Adds the CPU of the block to `stage`, less what the driver's execute calls took."""
    wire_cpu = wire.cpu
    started = time.process_time()
    yield
    totals[stage] += time.process_time() - started - (wire.cpu - wire_cpu)


def measure(messages: Sequence[SpooledMessage], batch_size: int, database_url: str) -> StageCosts:
    """Apply `messages` into the (empty) tables at `database_url`, timing each stage."""
    totals = dict.fromkeys(STAGES, 0.0)
    sources = [
        Source(message.topic, 0, offset, message.key, message.value)
        for offset, message in enumerate(messages)
    ]
    engine = create_engine(database_url)
    wire = _Wire()
    sa.event.listen(engine, "before_cursor_execute", wire.before)
    sa.event.listen(engine, "after_cursor_execute", wire.after)
    tune_garbage_collector()  # as the consumer does
    latest = datetime.now(UTC).replace(tzinfo=None) + DEFAULT_MAX_FUTURE_SKEW
    batches = iter(sources)
    try:
        while batch := list(islice(batches, batch_size)):
            _one_batch(engine, batch, latest, totals, wire)
    finally:
        engine.dispose()
    totals["server"] = wire.wall
    return StageCosts(len(sources), batch_size, totals)


def _one_batch(
    engine: sa.Engine, batch: list[Source], latest: datetime, totals: dict[str, float], wire: _Wire
) -> None:
    with _cpu(totals, "decode", wire):
        events = [decode_message(source, DEFAULT_SECRETS, latest) for source in batch]
    with _cpu(totals, "map", wire):
        changes = [map_event(event) for event in events]
    connection = engine.connect()
    try:
        transaction = connection.begin()
        with _cpu(totals, "read", wire):
            state = load_state(connection, changes)
        with _cpu(totals, "plan", wire):
            planned = plan(changes, state, DEFAULT_SECRETS)
        if planned.result.rejected:
            raise BenchError("the stage measurement's events were rejected")
        with _cpu(totals, "render", wire):
            write(connection, planned)
        started = time.perf_counter()
        transaction.commit()
        totals["commit"] += time.perf_counter() - started
    finally:
        connection.close()
