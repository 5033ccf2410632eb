"""One bench run: every method on the same events, database and machine, then the report."""

from __future__ import annotations

import math
import os
import platform
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Protocol, TypeVar

from rich.progress import Progress as RichProgressDisplay
from rich.progress import TaskID
from sqlalchemy.engine import URL

from analytics.bench import baseline, e2e, longrun, raw, report, stages
from analytics.bench.database import (
    DEFAULT_DATABASE_URL,
    BenchError,
    Snapshot,
    bench_url,
    connection_to,
    empty,
    prepare,
    require_same,
    shown,
    snapshot,
)
from analytics.bench.results import (
    Baseline,
    BenchResults,
    ConsumerRun,
    DecodeOnly,
    EndToEnd,
    Environment,
    InProcess,
    LongRun,
    LongRunTargets,
    Ratios,
    Raw,
    ScaleOut,
    Segment,
    Settings,
    Stages,
    SweepPoint,
    Tables,
    Target,
    Targets,
)
from analytics.bench.spool import Spool, SpooledMessage
from analytics.db import create_engine
from analytics.deadletters import Source
from analytics.events import decode_event
from analytics.mapping import map_event
from analytics.pipeline import process_batch, tune_garbage_collector
from analytics.secrets import DEFAULT_SECRETS
from analytics.settings import ConsumerSettings

DEFAULT_EVENTS = 100_000
DEFAULT_BATCH_SIZE: int = ConsumerSettings.model_fields["batch_size"].default
DEFAULT_BATCH_TARGET_SECONDS: float = ConsumerSettings.model_fields["batch_target_seconds"].default
DEFAULT_BATCH_SIZES = (100, 500, 1000, 2000, 5000)
DEFAULT_BASELINE_EVENTS = 5000
DEFAULT_PARTITIONS = 16
DEFAULT_SCALE_OUT = 2
DEFAULT_SEED = 42
DEFAULT_LONG_EVENTS = 1_000_000
DEFAULT_OUTPUT_DIR = Path("analytics-data/bench")
RESULTS_FILE = "bench-results.json"
SUMMARY_FILE = "bench-summary.md"

TARGET_VS_RAW = 0.25
TARGET_VS_BASELINE = 15.0
TARGET_RSS_MB = 300.0
TARGET_LAST_SEGMENT_SHARE = 0.85  # of the first segment's events/s
TARGET_BATCH_P99_SECONDS = 1.0

_Item = TypeVar("_Item")


class Progress(Protocol):
    """Where the run reports what it is doing (a progress bar, or nothing)."""

    def phase(self, description: str, total: int) -> None: ...

    def update(self, completed: int) -> None: ...


class Quiet:
    def phase(self, description: str, total: int) -> None:
        return None

    def update(self, completed: int) -> None:
        return None


@dataclass(frozen=True)
class BenchOptions:
    events: int = DEFAULT_EVENTS
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    sweep_events: int | None = None  # default: a quarter of `events`
    baseline_events: int | None = None  # default: DEFAULT_BASELINE_EVENTS or fewer
    database_url: str = DEFAULT_DATABASE_URL
    output_dir: Path = DEFAULT_OUTPUT_DIR
    seed: int = DEFAULT_SEED
    partitions: int = DEFAULT_PARTITIONS
    scale_out: int = DEFAULT_SCALE_OUT  # consumers of the scale-out run; 0 or 1 skips it
    long_events: int = DEFAULT_LONG_EVENTS  # events of the long run; 0 skips it

    @property
    def sweep_count(self) -> int:
        return self.sweep_events or max(1, self.events // 4)

    @property
    def baseline_count(self) -> int:
        return min(self.events, self.baseline_events or DEFAULT_BASELINE_EVENTS)

    def check(self) -> None:
        if self.events < 1:
            raise BenchError("--events must be at least 1")
        if self.batch_size < 1 or any(size < 1 for size in self.batch_sizes):
            raise BenchError("batch sizes must be at least 1")
        if not 1 <= self.sweep_count <= self.events:
            raise BenchError("--sweep-events must be between 1 and --events")
        if self.baseline_events is not None and self.baseline_events < 1:
            raise BenchError("--baseline-events must be at least 1")
        if not 1 <= self.partitions <= 64:
            raise BenchError("--partitions must be between 1 and 64")
        if self.scale_out < 0:
            raise BenchError("--scale-out must be at least 0")
        if self.long_events < 0:
            raise BenchError("--long-events must be at least 0")


@dataclass
class _RowWrites:
    """Rows written when the events are applied one by one, counted at a few prefixes."""

    at: dict[int, int] = field(default_factory=dict)

    @classmethod
    def count(cls, values: Iterable[bytes], marks: Iterable[int]) -> _RowWrites:
        wanted = set(marks)
        counts = cls()
        total = 0
        for number, value in enumerate(values, start=1):
            total += baseline.row_writes(baseline.statements_for(value))
            if number in wanted:
                counts.at[number] = total
        counts.at[0] = 0
        return counts


def run(options: BenchOptions, progress: Progress | None = None) -> BenchResults:
    """Run every method, write the JSON results and the Markdown summary, return the results."""
    options.check()
    shown_progress = progress or Quiet()
    url = bench_url(options.database_url)
    database_url = url.render_as_string(hide_password=False)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    shown_progress.phase("Preparing the database", 1)
    server = prepare(url)
    output_dir = options.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    count, sweep_count, baseline_count = options.events, options.sweep_count, options.baseline_count
    prefix = count - baseline_count

    with tempfile.TemporaryDirectory(prefix="analytics-bench-") as scratch:
        shown_progress.phase("Generating events", count)
        spool = Spool.generate(
            Path(scratch) / "events.spool", options.seed, count, shown_progress.update
        )
        shown_progress.phase("Counting row writes", count)
        writes = _RowWrites.count(
            (message.value for message in spool.read()), (count, sweep_count, prefix)
        )

        shown_progress.phase("Decoding and mapping only", count)
        decode_seconds = _decode_and_map(spool.read(0, count))

        main = _e2e(spool, count, options.batch_size, database_url, options, shown_progress)
        with connection_to(url) as connection:
            reference = snapshot(connection)
            if reference.dead_letters:
                raise BenchError(
                    f"the clean simulated stream left {reference.dead_letters} dead letters;"
                    f" see {main.log_path}"
                )
            shown_progress.phase("Raw ceiling: reading rows back", 1)
            tables = raw.read_back(connection)
            empty(connection)
            shown_progress.phase("Raw ceiling", reference.rows)
            raw_result = raw.write(connection, tables, shown_progress.update)
            del tables
            require_same(reference, snapshot(connection), "the raw ceiling")
            empty(connection)

        in_process = _in_process(
            spool.read(0, prefix), prefix, options.batch_size, database_url, shown_progress
        )
        with connection_to(url) as connection:
            shown_progress.phase("Seed-style baseline", baseline_count)
            baseline_result = baseline.run(
                connection,
                (message.value for message in spool.read(prefix, count)),
                shown_progress.update,
            )
            require_same(reference, snapshot(connection), "the seed-style baseline")

        shown_progress.phase("Cost of each stage", 1)
        with connection_to(url) as connection:
            empty(connection)
        stage_costs = stages.measure(
            list(spool.read(0, sweep_count)), options.batch_size, database_url
        )

        sweep: list[tuple[e2e.E2EResult, Snapshot]] = []
        for size in options.batch_sizes:
            with connection_to(url) as connection:
                empty(connection)
            # Fixed sizes: the sweep shows what a batch size costs, not where the limit went.
            result = _e2e(
                spool, sweep_count, size, database_url, options, shown_progress, fixed_batches=True
            )
            with connection_to(url) as connection:
                sweep.append((result, snapshot(connection)))
        for _result, tables_after in sweep[1:]:
            require_same(sweep[0][1], tables_after, "a batch-size sweep point")

        scale_out = None
        if options.scale_out > 1:
            # Compared with a single consumer's tables from the same events, if one ran.
            single = sweep[0][1] if sweep else None
            if single is None and sweep_count == count:
                single = reference
            scale_out = _scale_out(spool, url, database_url, options, single, shown_progress)

        long_run = None
        if options.long_events:
            long_run = _long_run(Path(scratch), url, database_url, options, shown_progress)

    results = _results(
        options=options,
        database=shown(url),
        server=server,
        started_at=started_at,
        wall_seconds=time.perf_counter() - started,
        reference=reference,
        writes=writes,
        main=main,
        raw_result=raw_result,
        in_process=in_process,
        decode_seconds=decode_seconds,
        baseline_result=baseline_result,
        sweep=sweep,
        scale_out=scale_out,
        stage_costs=stage_costs,
        long_run=long_run,
    )
    (output_dir / RESULTS_FILE).write_text(results.model_dump_json(indent=2) + "\n")
    (output_dir / SUMMARY_FILE).write_text(report.markdown(results))
    return results


def _e2e(
    spool: Spool,
    count: int,
    batch_size: int,
    database_url: str,
    options: BenchOptions,
    progress: Progress,
    consumers: int = 1,
    fixed_batches: bool = False,
) -> e2e.E2EResult:
    name = f"consumer-batch-{batch_size}-events-{count}"
    phase = f"End to end, batch size {batch_size}"
    if fixed_batches:
        name = f"consumer-fixed-batch-{batch_size}-events-{count}"
        phase = f"End to end, fixed batch size {batch_size}"
    if consumers > 1:  # one log each: 2-consumers-batch-1000-events-25000-1.log, ...-2.log
        name = f"{consumers}-consumers-batch-{batch_size}-events-{count}"
        phase = f"End to end, {consumers} consumers, batch size {batch_size}"
    progress.phase(phase, count)
    return e2e.run(
        spool.read(0, count),
        count,
        spool.average_size,
        batch_size,
        database_url,
        options.output_dir / "logs" / f"{name}.log",
        options.partitions,
        progress.update,
        consumers,
        fixed_batches,
    )


@dataclass(frozen=True)
class _ScaleOut:
    result: e2e.E2EResult
    tables: Snapshot
    single_consumer: Snapshot | None  # the tables one consumer left from the same events

    @property
    def tables_match(self) -> bool | None:
        if self.single_consumer is None:
            return None
        return not self.single_consumer.differences(self.tables)


def _scale_out(
    spool: Spool,
    url: URL,
    database_url: str,
    options: BenchOptions,
    single_consumer: Snapshot | None,
    progress: Progress,
) -> _ScaleOut:
    """The sweep's events through several consumers of one group at the main batch size,
    as production scales out."""
    with connection_to(url) as connection:
        empty(connection)
    result = _e2e(
        spool,
        options.sweep_count,
        options.batch_size,
        database_url,
        options,
        progress,
        options.scale_out,
    )
    with connection_to(url) as connection:
        scale_out = _ScaleOut(result, snapshot(connection), single_consumer)
    if single_consumer is not None:
        require_same(single_consumer, scale_out.tables, "the scale-out run")
    return scale_out


@dataclass(frozen=True)
class _LongRun:
    result: e2e.E2EResult
    segments: list[longrun.Segment]


def _long_run(
    scratch: Path, url: URL, database_url: str, options: BenchOptions, progress: Progress
) -> _LongRun:
    """`options.long_events` through one consumer at the main batch size, into empty
    tables, cut into segments."""
    count = options.long_events
    progress.phase("Long run: generating events", count)
    spool = Spool.generate(scratch / "long.spool", options.seed, count, progress.update)
    with connection_to(url) as connection:
        empty(connection)
        counter = longrun.RowCounter(connection)

        def on_progress(committed: int) -> None:
            progress.update(committed)
            counter(committed)

        progress.phase(f"Long run, batch size {options.batch_size}", count)
        result = e2e.run(
            spool.read(),
            count,
            spool.average_size,
            options.batch_size,
            database_url,
            options.output_dir / "logs" / f"long-run-events-{count}.log",
            options.partitions,
            on_progress,
        )
        counter.rows_at[count] = counter.count()
    spool.path.unlink()
    return _LongRun(result, longrun.segments(result, counter.rows_at, percentile))


@dataclass(frozen=True)
class _InProcess:
    events: int
    batch_size: int
    seconds: float


def _in_process(
    messages: Iterable[SpooledMessage],
    count: int,
    batch_size: int,
    database_url: str,
    progress: Progress,
) -> _InProcess | None:
    """The service's batch pipeline called directly (no Kafka, no consumer loop) on the
    events the baseline skips, which leaves the tables as the baseline expects them."""
    if count == 0:
        return None
    progress.phase("In-process pipeline", count)
    sources = (
        Source(message.topic, 0, offset, message.key, message.value)
        for offset, message in enumerate(messages)
    )
    engine = create_engine(database_url)
    tune_garbage_collector()  # as the consumer does
    now = datetime.now(UTC).replace(tzinfo=None)
    seconds = 0.0
    done = 0
    try:
        while batch := list(islice(sources, batch_size)):
            started = time.perf_counter()  # reading the spool is not the pipeline's work
            with engine.begin() as connection:
                outcome = process_batch(connection, batch, now, DEFAULT_SECRETS)
            seconds += time.perf_counter() - started
            if outcome.dead_letters:
                raise BenchError("the in-process pipeline dead-lettered clean events")
            done += len(batch)
            progress.update(done)
    finally:
        engine.dispose()
    return _InProcess(count, batch_size, seconds)


def _decode_and_map(messages: Iterable[SpooledMessage]) -> float:
    """Seconds to decode, validate and map the events with no database: work the service
    does for every event before it writes anything, so end to end cannot be faster."""
    values = [message.value for message in messages]
    started = time.perf_counter()
    for value in values:
        map_event(decode_event(value))
    return time.perf_counter() - started


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _rate(amount: float, seconds: float) -> float:
    return round(amount / seconds, 1) if seconds > 0 else 0.0


def _consumer_run(result: e2e.E2EResult, rows: int, row_writes: int) -> ConsumerRun:
    """What every kind of end-to-end entry reports; each adds its own fields to it."""
    apply_seconds = [batch.seconds for batch in result.batches]
    speed = result.events_per_second
    return ConsumerRun(
        events=result.events,
        rows=rows,
        row_writes=row_writes,
        timed_events=result.timed_events,
        seconds=round(result.seconds, 3),
        events_per_second=round(speed, 1),
        rows_per_second=round(speed * rows / result.events, 1),
        row_writes_per_second=round(speed * row_writes / result.events, 1),
        steady_events_per_second=_round(result.steady_events_per_second),
        batch_size=result.batch_size,
        batches=len(result.batches),
        batch_seconds_p50=percentile(apply_seconds, 0.50),
        batch_seconds_p99=percentile(apply_seconds, 0.99),
        batch_seconds_max=max(apply_seconds),
        peak_rss_mb=round(result.peak_rss_mb, 1),
        rss_samples=tuple(_thin([(s.committed, s.rss_mb) for s in result.rss_samples], 20)),
        applied=result.applied,
        stale=result.stale,
        dead_lettered=result.dead_lettered,
        min_backlog_messages=result.min_backlog,
        partitions_per_topic=result.partitions,
    )


def _thin(items: list[_Item], most: int) -> list[_Item]:
    if len(items) <= most:
        return items
    step = (len(items) - 1) / (most - 1)
    return [items[round(index * step)] for index in range(most)]


def _sweep_points(
    sweep: list[tuple[e2e.E2EResult, Snapshot]], writes: _RowWrites
) -> tuple[SweepPoint, ...]:
    if not sweep:
        return ()
    first_tables = sweep[0][1]
    return tuple(
        SweepPoint(
            **_consumer_run(result, tables_after.rows, writes.at[result.events]).model_dump(),
            consumer_log=str(result.log_path),
            tables_match=not first_tables.differences(tables_after),
        )
        for result, tables_after in sweep
    )


def _results(
    *,
    options: BenchOptions,
    database: str,
    server: str,
    started_at: datetime,
    wall_seconds: float,
    reference: Snapshot,
    writes: _RowWrites,
    main: e2e.E2EResult,
    raw_result: raw.RawResult,
    in_process: _InProcess | None,
    decode_seconds: float,
    baseline_result: baseline.BaselineResult,
    sweep: list[tuple[e2e.E2EResult, Snapshot]],
    scale_out: _ScaleOut | None,
    stage_costs: stages.StageCosts,
    long_run: _LongRun | None,
) -> BenchResults:
    count, rows = options.events, reference.rows
    end_to_end = EndToEnd(
        **_consumer_run(main, rows, writes.at[count]).model_dump(),
        consumer_log=str(main.log_path),
        timing=(
            "consumer log: partitions.assigned (first poll) to the last batch.committed"
            " (logged after the offsets commit); a final partial batch, which only waited for"
            " the end of the stream, is left out with its messages"
        ),
    )
    raw_entry = Raw(
        events=count,
        rows=raw_result.rows,
        row_writes=raw_result.rows,
        seconds=round(raw_result.seconds, 3),
        events_per_second=_rate(count, raw_result.seconds),
        rows_per_second=_rate(raw_result.rows, raw_result.seconds),
        row_writes_per_second=_rate(raw_result.rows, raw_result.seconds),
        statements=raw_result.statements,
        commits=raw_result.commits,
        tables_match=True,
        timing="measured around the writes (rows read back beforehand)",
    )
    baseline_events = baseline_result.events
    baseline_eps = _rate(baseline_events, baseline_result.seconds)
    baseline_entry = Baseline(
        events=baseline_events,
        prepared_events=count - baseline_events,
        rows=rows,
        row_writes=baseline_result.row_writes,
        seconds=round(baseline_result.seconds, 3),
        events_per_second=baseline_eps,
        rows_per_second=round(baseline_eps * rows / count, 1),
        row_writes_per_second=_rate(baseline_result.row_writes, baseline_result.seconds),
        statements=baseline_result.statements,
        commits=baseline_result.commits,
        tables_match=True,
        timing="measured around the statements and commits of its events",
    )
    in_process_entry = None
    if in_process is not None:
        prefix_writes = writes.at[count - baseline_events]
        in_process_entry = InProcess(
            events=in_process.events,
            batch_size=in_process.batch_size,
            row_writes=prefix_writes,
            seconds=round(in_process.seconds, 3),
            events_per_second=_rate(in_process.events, in_process.seconds),
            row_writes_per_second=_rate(prefix_writes, in_process.seconds),
        )
    decode_entry = DecodeOnly(
        events=count,
        seconds=round(decode_seconds, 3),
        events_per_second=_rate(count, decode_seconds),
        timing="decode_event and map_event over every event, in this process, no database",
    )
    vs_raw = end_to_end.events_per_second / raw_entry.events_per_second
    vs_baseline = end_to_end.events_per_second / baseline_eps
    peak_rss = max([main.peak_rss_mb, *(result.peak_rss_mb for result, _ in sweep)])
    if scale_out is not None:
        peak_rss = max(peak_rss, scale_out.result.peak_rss_mb)
    return BenchResults(
        started_at=started_at.isoformat(timespec="seconds"),
        wall_seconds=round(wall_seconds, 1),
        environment=Environment(
            database=database,
            server=server,
            cpus=os.cpu_count(),
            python=platform.python_version(),
            platform=platform.platform(),
        ),
        settings=Settings(
            events=count,
            batch_size=options.batch_size,
            batch_sizes=options.batch_sizes,
            sweep_events=options.sweep_count,
            baseline_events=baseline_events,
            seed=options.seed,
            partitions_per_topic=options.partitions,
            scale_out_consumers=options.scale_out,
            long_events=options.long_events,
            batch_target_seconds=DEFAULT_BATCH_TARGET_SECONDS,
            raw_statement_bytes=raw.STATEMENT_BYTES,
            raw_rows_per_commit=raw.ROWS_PER_COMMIT,
        ),
        tables=Tables(rows=rows, per_table=reference.counts),
        e2e=end_to_end,
        raw=raw_entry,
        baseline=baseline_entry,
        in_process=in_process_entry,
        decode_only=decode_entry,
        ratios=Ratios(e2e_vs_raw=round(vs_raw, 3), e2e_vs_baseline=round(vs_baseline, 2)),
        targets=Targets(
            e2e_vs_raw=Target(
                target=TARGET_VS_RAW, value=round(vs_raw, 3), met=vs_raw >= TARGET_VS_RAW
            ),
            e2e_vs_baseline=Target(
                target=TARGET_VS_BASELINE,
                value=round(vs_baseline, 2),
                met=vs_baseline >= TARGET_VS_BASELINE,
            ),
            peak_rss_mb=Target(
                target=TARGET_RSS_MB, value=round(peak_rss, 1), met=peak_rss < TARGET_RSS_MB
            ),
        ),
        sweep=_sweep_points(sweep, writes),
        scale_out=_scale_out_entry(scale_out, sweep, writes),
        stages=_stages_entry(stage_costs),
        long_run=_long_run_entry(long_run),
    )


def _stages_entry(costs: stages.StageCosts) -> Stages:
    return Stages(
        events=costs.events,
        batch_size=costs.batch_size,
        microseconds_per_event={
            stage: round(costs.microseconds_per_event(stage), 1) for stage in stages.STAGES
        },
        total_microseconds_per_event=round(costs.total_microseconds_per_event, 1),
        wall_stages=tuple(sorted(stages.WALL_STAGES)),
    )


def _long_run_entry(long_run: _LongRun | None) -> LongRun | None:
    if long_run is None:
        return None
    result, segments = long_run.result, long_run.segments
    first, last = segments[0].events_per_second, segments[-1].events_per_second
    p99 = percentile([batch.seconds for batch in result.batches], 0.99)
    return LongRun(
        events=result.events,
        batch_size=result.batch_size,
        seconds=round(result.seconds, 3),
        events_per_second=round(result.events_per_second, 1),
        batch_seconds_p99=p99,
        peak_rss_mb=round(result.peak_rss_mb, 1),
        last_vs_first_segment=round(last / first, 3) if first else None,
        segments=tuple(
            Segment(
                first_event=segment.first_event,
                events=segment.events,
                seconds=round(segment.seconds, 3),
                events_per_second=round(segment.events_per_second, 1),
                batch_seconds_p99=segment.batch_seconds_p99,
                peak_rss_mb=round(segment.peak_rss_mb, 1),
                rows_at_end=segment.rows_at_end,
            )
            for segment in segments
        ),
        targets=LongRunTargets(
            last_segment_vs_first=Target(
                target=TARGET_LAST_SEGMENT_SHARE,
                value=round(last / first, 3) if first else None,
                met=bool(first) and last / first >= TARGET_LAST_SEGMENT_SHARE,
            ),
            peak_rss_mb=Target(
                target=TARGET_RSS_MB,
                value=round(result.peak_rss_mb, 1),
                met=result.peak_rss_mb < TARGET_RSS_MB,
            ),
            batch_seconds_p99=Target(
                target=TARGET_BATCH_P99_SECONDS,
                value=p99,
                met=p99 <= TARGET_BATCH_P99_SECONDS,
            ),
        ),
        consumer_log=str(result.log_path),
    )


def _scale_out_entry(
    scale_out: _ScaleOut | None, sweep: list[tuple[e2e.E2EResult, Snapshot]], writes: _RowWrites
) -> ScaleOut | None:
    if scale_out is None:
        return None
    result = scale_out.result
    single = next((point for point, _ in sweep if point.batch_size == result.batch_size), None)
    return ScaleOut(
        **_consumer_run(result, scale_out.tables.rows, writes.at[result.events]).model_dump(),
        consumers=result.consumers,
        peak_rss_mb_per_consumer=tuple(round(peak, 1) for peak in result.peak_rss_mb_by_consumer),
        peak_rss_mb_sum=round(sum(result.peak_rss_mb_by_consumer), 1),
        applied_messages=result.applied_messages,
        applied_again=result.applied_again,
        vs_single_consumer=(
            round(result.events_per_second / single.events_per_second, 2) if single else None
        ),
        tables_match=scale_out.tables_match,
        consumer_logs=tuple(str(path) for path in result.log_paths),
    )


class RichProgress:
    """Shows each phase of the run as one bar of a `rich.progress.Progress`."""

    def __init__(self, progress: RichProgressDisplay) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, description: str, total: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(description, total=total)

    def update(self, completed: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=completed)
