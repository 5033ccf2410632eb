"""The results of one bench run, as the runner builds them, the report reads them and
`bench-results.json` holds them (the fields in the order the file lists its keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    # Unknown keys are refused so that a file the models no longer describe fails to load
    # instead of losing what they do not know.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Environment(_Model):
    """Where the run took place: the database, its server and this machine."""

    database: str
    server: str
    cpus: int | None
    python: str
    platform: str


class Settings(_Model):
    """The options the run was given, with the raw ceiling's fixed sizes."""

    events: int
    batch_size: int
    batch_sizes: tuple[int, ...]
    sweep_events: int
    baseline_events: int
    seed: int
    partitions_per_topic: int
    scale_out_consumers: int
    long_events: int
    # The consumers' batch limit aims at this write time (the sweep runs without it).
    batch_target_seconds: float
    raw_statement_bytes: int
    raw_rows_per_commit: int


class Tables(_Model):
    """The rows every method left in the tables, in all and per table."""

    rows: int
    per_table: dict[str, int]


class ConsumerRun(_Model):
    """What one end-to-end run measured, with one consumer or several in one group."""

    events: int
    rows: int
    row_writes: int
    timed_events: int
    seconds: float
    events_per_second: float
    rows_per_second: float
    row_writes_per_second: float
    steady_events_per_second: float | None
    batch_size: int
    batches: int
    batch_seconds_p50: float
    batch_seconds_p99: float
    batch_seconds_max: float
    peak_rss_mb: float
    rss_samples: tuple[tuple[int, float], ...]  # (events committed, MB), at most 20
    applied: int
    stale: int
    dead_lettered: int
    min_backlog_messages: int | None
    partitions_per_topic: int


class EndToEnd(ConsumerRun):
    """The main end-to-end run, with how it was timed."""

    consumer_log: str
    timing: str


class SweepPoint(ConsumerRun):
    """One end-to-end run of the batch-size sweep, with whether it left the same tables as
    the sweep's first point."""

    consumer_log: str
    tables_match: bool


class _DirectWrites(_Model):
    """What a method that writes through its own statements (no consumer) measured."""

    events: int
    rows: int
    row_writes: int
    seconds: float
    events_per_second: float
    rows_per_second: float
    row_writes_per_second: float
    statements: int
    commits: int
    tables_match: bool
    timing: str


class Raw(_DirectWrites):
    """The raw ceiling: the resulting rows written as plain multi-row upserts."""


class Baseline(_DirectWrites):
    """The seed-style baseline on the last events of the stream, after the
    `prepared_events` before them were applied untimed."""

    prepared_events: int


class InProcess(_Model):
    """The batch pipeline called directly on the events the baseline skips."""

    events: int
    batch_size: int
    row_writes: int
    seconds: float
    events_per_second: float
    row_writes_per_second: float


class DecodeOnly(_Model):
    """Every event decoded, validated and mapped with no database."""

    events: int
    seconds: float
    events_per_second: float
    timing: str


class Ratios(_Model):
    """End to end's events/s over the raw ceiling's and over the baseline's."""

    e2e_vs_raw: float
    e2e_vs_baseline: float


class Target(_Model):
    """A goal, the value the run reached and whether that meets it."""

    target: float
    value: float | None  # None when there was nothing to compare with
    met: bool


class Targets(_Model):
    """The goals of the main runs."""

    e2e_vs_raw: Target
    e2e_vs_baseline: Target
    peak_rss_mb: Target


class ScaleOut(ConsumerRun):
    """The sweep's events through several consumers of one group at the main batch size."""

    consumers: int
    peak_rss_mb_per_consumer: tuple[float, ...]
    peak_rss_mb_sum: float
    # Rebalances make the group apply some messages again: work done, but left out of
    # the timed events (each event counts once).
    applied_messages: int
    applied_again: int
    vs_single_consumer: float | None  # None when the sweep has no point at its batch size
    tables_match: bool | None  # None when no single consumer ran on the same events
    consumer_logs: tuple[str, ...]


class Stages(_Model):
    """Microseconds per event of each stage of the service's work, in process."""

    events: int
    batch_size: int
    microseconds_per_event: dict[str, float]
    total_microseconds_per_event: float
    wall_stages: tuple[str, ...]


class Segment(_Model):
    """A stretch of the long run."""

    first_event: int
    events: int
    seconds: float
    events_per_second: float
    batch_seconds_p99: float
    peak_rss_mb: float
    rows_at_end: int | None


class LongRunTargets(_Model):
    """The goals of the long run."""

    last_segment_vs_first: Target
    peak_rss_mb: Target
    batch_seconds_p99: Target


class LongRun(_Model):
    """One consumer on a long stream, by segment."""

    events: int
    batch_size: int
    seconds: float
    events_per_second: float
    batch_seconds_p99: float
    peak_rss_mb: float
    last_vs_first_segment: float | None
    segments: tuple[Segment, ...]
    targets: LongRunTargets
    consumer_log: str


class BenchResults(_Model):
    """Everything one bench run measured."""

    schema_version: Literal[1] = 1
    started_at: str  # ISO 8601, to the second
    wall_seconds: float
    environment: Environment
    settings: Settings
    tables: Tables
    e2e: EndToEnd
    raw: Raw
    baseline: Baseline
    in_process: InProcess | None  # None when the baseline ran on every event
    decode_only: DecodeOnly
    ratios: Ratios
    targets: Targets
    sweep: tuple[SweepPoint, ...]
    scale_out: ScaleOut | None
    stages: Stages
    long_run: LongRun | None


def load(path: Path) -> BenchResults:
    """The results a run wrote to `path` (its `bench-results.json`)."""
    return BenchResults.model_validate_json(path.read_text())
