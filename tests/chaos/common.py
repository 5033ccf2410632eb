"""What the chaos scenarios share: their scale, the faulty stream they feed the service, the
final verdict (every row equal to a clean single pass, dead letters exactly the injected
poison) and the figures each scenario reports.

ANALYTICS_CHAOS_SCALE chooses the numbers: "short" (the default, what CI runs) or "full".
ANALYTICS_CHAOS_REPORT, when set, names a file each scenario appends one JSON line to;
`python -m tests.chaos.report` renders those lines as docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import confluent_kafka
import sqlalchemy as sa

from analytics import offsets
from analytics.deadletters import Source
from analytics.events import TOPICS
from producer_sim import Resend, generate, inject_faults
from tests.consumer.harness import (
    Record,
    all_messages,
    dead_letter_coordinates,
    effect_is_stored,
    reference_contents,
    table_contents,
)

SCALE_ENV = "ANALYTICS_CHAOS_SCALE"
REPORT_ENV = "ANALYTICS_CHAOS_REPORT"
SCALES = ("short", "full")

T = TypeVar("T")

Coordinates = tuple[str, int, int]
Rows = dict[str, list[tuple[Any, ...]]]


def scale() -> str:
    chosen = os.environ.get(SCALE_ENV, "short") or "short"
    if chosen not in SCALES:
        raise ValueError(f"{SCALE_ENV} must be one of {', '.join(SCALES)}, not {chosen!r}")
    return chosen


def by_scale(short: T, full: T) -> T:
    """The figure for the scale this run uses."""
    return full if scale() == "full" else short


@dataclass(frozen=True)
class FaultyStream:
    """A simulated stream with duplicates, stale re-sends and poison injected."""

    records: list[Record]
    events: int
    duplicates: int
    stale: int
    poison: int
    poison_values: frozenset[bytes]


def faulty_stream(
    events: int, seed: int, duplicates: float = 0.05, stale: float = 0.05, poison: float = 0.01
) -> FaultyStream:
    messages = list(
        inject_faults(
            generate(seed, events), seed=seed, duplicates=duplicates, stale=stale, poison=poison
        )
    )
    resends = Counter(m.resend for m in messages if m.resend is not None)
    poisoned = [m for m in messages if m.poison is not None]
    return FaultyStream(
        records=[Record(m.topic, m.key, m.value) for m in messages],
        events=events,
        duplicates=resends[Resend.DUPLICATE],
        stale=resends[Resend.STALE],
        poison=len(poisoned),
        poison_values=frozenset(m.value for m in poisoned),
    )


def assert_retained(bootstrap: str) -> None:
    """The broker still holds every message produced (it keeps about 5 MB per partition)."""
    dropped = {
        partition: low
        for partition, (low, _end) in offsets.watermarks(bootstrap, TOPICS).items()
        if low > 0
    }
    assert not dropped, f"the broker dropped the oldest messages of {dropped}"


def poison_coordinates(messages: list[Source], stream: FaultyStream) -> set[Coordinates]:
    """Where the injected poison landed in the broker, recognised by its bytes.

    A clean message or a re-send (a copy of a clean one) never has the bytes of a poison
    message, so every broker message with such bytes is one of the injected ones.
    """
    found = [(m.topic, m.partition, m.offset) for m in messages if m.value in stream.poison_values]
    assert len(found) == stream.poison, (
        f"{len(found)} broker messages carry poison bytes, {stream.poison} were injected"
    )
    return set(found)


def messages_without_effect(engine: sa.Engine, messages: list[Source]) -> list[Coordinates]:
    """Messages neither applied (their entity's version is older) nor dead-lettered."""
    with engine.connect() as connection:
        return [
            (m.topic, m.partition, m.offset)
            for m in messages
            if not effect_is_stored(connection, m)
        ]


def row_differences(actual: Rows, expected: Rows) -> tuple[int, int, str]:
    """Rows the clean pass has that the run lacks, rows the run has in excess, and a
    description of both (a few rows per table)."""
    missing = extra = 0
    lines: list[str] = []
    for table in sorted(set(actual) | set(expected)):
        # Rows hold JSON documents (dicts), so they are compared by their repr.
        have = Counter(map(repr, actual.get(table, [])))
        want = Counter(map(repr, expected.get(table, [])))
        lacking, surplus = want - have, have - want
        missing += lacking.total()
        extra += surplus.total()
        if lacking or surplus:
            lines.append(f"{table}: {lacking.total()} missing, {surplus.total()} extra")
            lines += [f"  missing {row}"[:400] for row in list(lacking)[:3]]
            lines += [f"  extra   {row}"[:400] for row in list(surplus)[:3]]
    return missing, extra, "\n".join(lines)


@dataclass
class Verdict:
    messages: int
    lost: int
    missing_rows: int
    duplicated_rows: int
    dead_lettered: int
    poison: int
    unexpected_dead_letters: int
    poison_not_dead_lettered: int
    differences: str = ""

    def figures(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "lost": self.lost,
            "missing_rows": self.missing_rows,
            "duplicated_rows": self.duplicated_rows,
            "dead_lettered": self.dead_lettered,
            "injected_poison": self.poison,
            "unexpected_dead_letters": self.unexpected_dead_letters,
            "poison_not_dead_lettered": self.poison_not_dead_lettered,
        }

    def check(self) -> None:
        assert self.lost == 0, f"{self.lost} messages have no stored effect"
        assert (self.missing_rows, self.duplicated_rows) == (0, 0), (
            f"the tables differ from a clean single pass:\n{self.differences}"
        )
        assert self.unexpected_dead_letters == 0, "dead letters that are not injected poison"
        assert self.poison_not_dead_lettered == 0, "injected poison that was not dead-lettered"


def final_verdict(bootstrap: str, engine: sa.Engine, stream: FaultyStream) -> Verdict:
    """Compare the run's tables with one clean pass over the same broker messages.

    Every row of every table must be equal (so nothing was lost and nothing applied
    twice), and the dead letters must sit exactly at the injected poison's coordinates.
    The figures are gathered before anything is asserted, so that they can be reported.
    The clean pass leaves the tables empty.
    """
    messages = all_messages(bootstrap)
    poison = poison_coordinates(messages, stream)
    letters = dead_letter_coordinates(engine)
    lost = messages_without_effect(engine, messages)
    actual = table_contents(engine)
    expected = reference_contents(bootstrap, engine)
    missing, extra, described = row_differences(actual, expected)
    return Verdict(
        messages=len(messages),
        lost=len(lost),
        missing_rows=missing,
        duplicated_rows=extra,
        dead_lettered=len(letters),
        poison=len(poison),
        unexpected_dead_letters=len(letters - poison),
        poison_not_dead_lettered=len(poison - letters),
        differences=described,
    )


@dataclass
class Report:
    """The figures of one scenario, appended as a JSON line to $ANALYTICS_CHAOS_REPORT."""

    scenario: str
    started: float = field(default_factory=time.monotonic)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, **figures: Any) -> None:
        self.figures.update(figures)

    def write(self, engine: sa.Engine | None = None) -> None:
        path = os.environ.get(REPORT_ENV)
        if not path:
            return
        line = {
            "scenario": self.scenario,
            "scale": scale(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_seconds": round(time.monotonic() - self.started, 1),
            "machine": machine(engine),
            **self.figures,
        }
        with Path(path).open("a", encoding="utf-8") as report:
            report.write(json.dumps(line, default=str) + "\n")


def machine(engine: sa.Engine | None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "librdkafka": confluent_kafka.libversion()[0],
    }
    if engine is not None and engine.dialect.name == "sqlite":
        described["database"] = f"SQLite {sqlite3.sqlite_version}"
    elif engine is not None:
        with engine.connect() as connection:
            described["database"] = connection.execute(sa.text("SELECT VERSION()")).scalar()
    return described
