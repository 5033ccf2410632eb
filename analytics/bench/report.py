"""The bench's results as tables (terminal and Markdown) and one line of ratios."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from analytics.bench.results import (
    BenchResults,
    ConsumerRun,
    LongRun,
    ScaleOut,
    SweepPoint,
    Target,
)

Row = list[str]
TIMES = "\N{MULTIPLICATION SIGN}"

NOTES = """\
- events/s and rows/s: events applied, and rows in the resulting tables (read model and
  tombstones), per second. The three methods leave the same tables (compared row by row).
  The seed-style baseline runs on the last events of the stream (the earlier ones are
  applied first, untimed, by the in-process pipeline); its rows/s is its per-event rate
  times the run's rows per event.
- row writes/s: rows written when the events are applied one by one (every upsert,
  update and delete of a row, variants and items included); the raw ceiling writes each
  resulting row once.
- end to end: from the consumer's first poll (its `partitions.assigned` log line) to its
  last `batch.committed` line (a final partial batch, which only waited for the end of
  the stream, is left out with its messages); batch latency is that line's `seconds`
  (write, commit and offset commit of one batch); peak RSS is the consumer process's own
  high-water mark (VmHWM) up to the end of the run, before it is stopped.
- batch size: the main run, the scale-out and the long run use the service's batch
  limit: batches of up to the batch size, fewer while a batch takes longer than
  `batch_target_seconds` (0.5 s by default) to write, commit and commit its offsets. The
  sweep turns the limit off (`ANALYTICS_BATCH_TARGET_SECONDS=0`) to show what each fixed
  size costs.
- steady events/s: from the first to the last timed `batch.committed`, without the
  consumer's start-up (offset lookups and first fetch, about half a second), which weighs
  on short runs.
- scale-out: the sweep's events through several consumer processes of one group at the
  main batch size, next to one consumer at that batch size (when the sweep has it). The
  consumers start together and the broker waits a second for them to join before it
  hands out partitions (as Kafka's `group.initial.rebalance.delay.ms` does). The window
  runs from the earliest `partitions.assigned` before the first batch of any consumer to
  the last timed `batch.committed` of any. A consumer that joins late sets off a
  rebalance, and the group applies some messages again (a batch whose offsets could not
  be committed is read again by the partitions' next owner): the notes show how many,
  and events/s counts each event once. The run ends when the group's committed offsets
  cover every event. Peak RSS is the largest consumer's; summed peaks, the group's.
- in-process pipeline: `process_batch` called directly, one transaction per batch, no
  Kafka and no consumer loop.
- cost of each stage: the service's own functions called one after the other on the
  sweep's events in this process (`analytics/bench/stages.py`): decode (parsing and
  validating, one pass in pydantic-core), then map, read (the client's side of the
  version reads), plan, render (building the SQL text), server (wall time in the driver's
  execute calls) and commit (wall time).
- long run: one consumer on a long stream, cut into segments of 100,000 committed
  events; rows at end are the read model's rows (COUNT(*)) when the bench saw the
  segment's last batch; peak RSS is the largest RSS sample during the segment.
- decoding and mapping only: every event parsed, validated and mapped to its row changes
  in one process with no database; the end-to-end time can never drop below it.
"""


def _number(value: float) -> str:
    return f"{value:,.0f}"


def _optional(value: float | None) -> str:
    return "" if value is None else _number(value)


def _ratio(value: float) -> str:
    return f"{value:.2f} {TIMES}" if value < 10 else f"{value:.1f} {TIMES}"


def ratio_line(results: BenchResults) -> str:
    ratios = results.ratios
    return (
        f"e2e = {ratios.e2e_vs_raw:.2f} {TIMES} raw ceiling,"
        f" {ratios.e2e_vs_baseline:.1f} {TIMES} seed-style baseline"
    )


def _mark(target: Target) -> str:
    return "met" if target.met else "NOT met"


def target_lines(results: BenchResults) -> list[str]:
    targets, e2e = results.targets, results.e2e
    return [
        f"target e2e ≥ {targets.e2e_vs_raw.target} {TIMES} raw:"
        f" {targets.e2e_vs_raw.value:.2f} ({_mark(targets.e2e_vs_raw)})",
        f"target e2e ≥ {targets.e2e_vs_baseline.target:.0f} {TIMES} baseline:"
        f" {targets.e2e_vs_baseline.value:.1f} ({_mark(targets.e2e_vs_baseline)})",
        f"target consumer peak RSS < {targets.peak_rss_mb.target:.0f} MB:"
        f" {targets.peak_rss_mb.value:.0f} MB over all runs ({_mark(targets.peak_rss_mb)});"
        f" batch apply p50 {e2e.batch_seconds_p50:.3f} s,"
        f" p99 {e2e.batch_seconds_p99:.3f} s",
        *_long_run_target_lines(results.long_run),
    ]


def _long_run_target_lines(long_run: LongRun | None) -> list[str]:
    if long_run is None:
        return []
    targets = long_run.targets
    share, rss, p99 = targets.last_segment_vs_first, targets.peak_rss_mb, targets.batch_seconds_p99
    return [
        f"target long run, last segment ≥ {share.target:.2f} {TIMES} the first:"
        f" {share.value:.2f} ({_mark(share)})",
        f"target long run, peak RSS < {rss.target:.0f} MB:"
        f" {rss.value:.0f} MB ({_mark(rss)});"
        f" batch p99 ≤ {p99.target:.0f} s:"
        f" {p99.value:.3f} s ({_mark(p99)})",
    ]


_STAGE_HEADERS = ["stage", "µs per event", "share", "measured as"]


def stage_rows(results: BenchResults) -> list[Row]:
    entry = results.stages
    total = entry.total_microseconds_per_event
    rows = [
        [
            stage,
            f"{value:.1f}",
            f"{value / total:.0%}" if total else "",
            "wall" if stage in entry.wall_stages else "CPU",
        ]
        for stage, value in entry.microseconds_per_event.items()
    ]
    rows.append(["total", f"{total:.1f}", "100%", ""])
    return rows


def _stages_title(results: BenchResults) -> str:
    entry = results.stages
    return (
        f"Cost of each stage, in process ({entry.events:,} events, batch size {entry.batch_size})"
    )


def stages_table(results: BenchResults, width: int | None = None) -> Table:
    return _rich(_stages_title(results), _STAGE_HEADERS, stage_rows(results), width)


_LONG_RUN_HEADERS = [
    "events from",
    "events",
    "seconds",
    "events/s",
    "rows at end",
    "batch p99 s",
    "peak RSS MB",
]


def long_run_rows(long_run: LongRun) -> list[Row]:
    return [
        [
            _number(segment.first_event),
            _number(segment.events),
            f"{segment.seconds:.2f}",
            _number(segment.events_per_second),
            _optional(segment.rows_at_end),
            f"{segment.batch_seconds_p99:.3f}",
            f"{segment.peak_rss_mb:.0f}",
        ]
        for segment in long_run.segments
    ]


def _long_run_title(long_run: LongRun) -> str:
    return (
        f"Long run: {long_run.events:,} events, one consumer, batch size up to"
        f" {long_run.batch_size}, by segment"
    )


def long_run_table(long_run: LongRun, width: int | None = None) -> Table:
    return _rich(_long_run_title(long_run), _LONG_RUN_HEADERS, long_run_rows(long_run), width)


_METHOD_HEADERS = [
    "method",
    "events",
    "seconds",
    "events/s",
    "rows/s",
    "row writes/s",
    "e2e ÷ method",
    "notes",
]


def method_rows(results: BenchResults) -> list[Row]:
    e2e, raw, baseline = results.e2e, results.raw, results.baseline
    in_process, decode_only = results.in_process, results.decode_only
    speed = e2e.events_per_second
    rows = [
        [
            f"end to end (batch ≤ {e2e.batch_size})",
            _number(e2e.events),
            f"{e2e.seconds:.2f}",
            _number(speed),
            _number(e2e.rows_per_second),
            _number(e2e.row_writes_per_second),
            "",
            f"p50 {e2e.batch_seconds_p50:.3f} s, p99 {e2e.batch_seconds_p99:.3f} s,"
            f" peak RSS {e2e.peak_rss_mb:.0f} MB",
        ],
        [
            "raw ceiling",
            _number(raw.events),
            f"{raw.seconds:.2f}",
            _number(raw.events_per_second),
            _number(raw.rows_per_second),
            _number(raw.row_writes_per_second),
            _ratio(speed / raw.events_per_second),
            f"{raw.statements} statements, {raw.commits} commits",
        ],
    ]
    if in_process is not None:
        rows.append(
            [
                f"in-process pipeline (batch {in_process.batch_size})",
                _number(in_process.events),
                f"{in_process.seconds:.2f}",
                _number(in_process.events_per_second),
                "",
                _number(in_process.row_writes_per_second),
                _ratio(speed / in_process.events_per_second),
                "no Kafka, no consumer loop",
            ]
        )
    rows += [
        [
            "decoding and mapping only",
            _number(decode_only.events),
            f"{decode_only.seconds:.2f}",
            _number(decode_only.events_per_second),
            "",
            "",
            _ratio(speed / decode_only.events_per_second),
            "parse, validate, map; no database: the service's floor",
        ],
        [
            "seed-style baseline",
            _number(baseline.events),
            f"{baseline.seconds:.2f}",
            _number(baseline.events_per_second),
            _number(baseline.rows_per_second),
            _number(baseline.row_writes_per_second),
            _ratio(speed / baseline.events_per_second),
            f"last {baseline.events:,} events; {baseline.commits:,} commits",
        ],
    ]
    return rows


_SWEEP_HEADERS = [
    "batch size",
    "events",
    "seconds",
    "events/s",
    "rows/s",
    "steady events/s",
    "batch p50 s",
    "batch p99 s",
    "peak RSS MB",
]


def sweep_rows(results: BenchResults) -> list[Row]:
    return [
        [
            str(point.batch_size),
            _number(point.events),
            f"{point.seconds:.2f}",
            _number(point.events_per_second),
            _number(point.rows_per_second),
            _optional(point.steady_events_per_second),
            f"{point.batch_seconds_p50:.3f}",
            f"{point.batch_seconds_p99:.3f}",
            f"{point.peak_rss_mb:.0f}",
        ]
        for point in results.sweep
    ]


_SCALE_OUT_HEADERS = [
    "consumers",
    "events",
    "seconds",
    "events/s",
    "steady events/s",
    "batch p50 s",
    "batch p99 s",
    "peak RSS MB",
    "summed peaks MB",
    "÷ 1 consumer",
    "notes",
]
_TABLES_MATCH = {True: "tables match", False: "tables differ", None: "not compared"}


def scale_out_rows(scale_out: ScaleOut, sweep: Sequence[SweepPoint]) -> list[Row]:
    """One consumer (the sweep point at the same batch size, if any), then the group."""
    single = [point for point in sweep if point.batch_size == scale_out.batch_size]
    rows = [_scale_out_row(1, point, point.peak_rss_mb, None, "") for point in single[:1]]
    rows.append(
        _scale_out_row(
            scale_out.consumers,
            scale_out,
            scale_out.peak_rss_mb_sum,
            scale_out.vs_single_consumer,
            f"{_TABLES_MATCH[scale_out.tables_match]}; {scale_out.applied_again:,} applied again",
        )
    )
    return rows


def _scale_out_row(
    consumers: int, point: ConsumerRun, summed_peaks: float, ratio: float | None, notes: str
) -> Row:
    return [
        str(consumers),
        _number(point.events),
        f"{point.seconds:.2f}",
        _number(point.events_per_second),
        _optional(point.steady_events_per_second),
        f"{point.batch_seconds_p50:.3f}",
        f"{point.batch_seconds_p99:.3f}",
        f"{point.peak_rss_mb:.0f}",
        f"{summed_peaks:.0f}",
        "" if ratio is None else _ratio(ratio),
        notes,
    ]


def _numeric(position: int, header: str) -> bool:
    return position > 0 and header != "notes"


def _rich(title: str, headers: list[str], rows: list[Row], width: int | None) -> Table:
    """A table of `rows`; when its columns would not fit `width` (an 80-column terminal),
    the same rows as cards: one block of "header value" lines per row, nothing cut."""
    table = Table(title=title)
    for position, header in enumerate(headers):
        numeric = _numeric(position, header)
        table.add_column(header, justify="right" if numeric else "left", no_wrap=numeric)
    for row in rows:
        table.add_row(*row)
    if width is None or Console(width=10_000, file=io.StringIO()).measure(table).maximum <= width:
        return table
    return _cards(title, headers, rows)


def _cards(title: str, headers: list[str], rows: list[Row]) -> Table:
    cards = Table(title=title, title_justify="left", box=box.SIMPLE, show_header=False)
    cards.add_column("field", no_wrap=True)
    cards.add_column("value", overflow="fold")
    for row in rows:
        cards.add_row(f"[bold]{headers[0]}[/bold]", f"[bold]{row[0]}[/bold]")
        for header, value in zip(headers[1:], row[1:], strict=True):
            if value:
                cards.add_row(header, value)
        cards.add_section()
    return cards


def methods_table(results: BenchResults, width: int | None = None) -> Table:
    environment = results.environment
    title = (
        f"{results.settings.events:,} events → {results.tables.rows:,} rows"
        f" ({environment.server}, {environment.cpus} CPUs)"
    )
    return _rich(title, _METHOD_HEADERS, method_rows(results), width)


def sweep_table(results: BenchResults, width: int | None = None) -> Table:
    title = f"End to end by fixed batch size ({results.settings.sweep_events:,} events each)"
    return _rich(title, _SWEEP_HEADERS, sweep_rows(results), width)


def _scale_out_title(scale_out: ScaleOut) -> str:
    return (
        f"Scale-out: consumers in one group, batch size up to {scale_out.batch_size}"
        f" ({scale_out.events:,} events each)"
    )


def scale_out_table(
    scale_out: ScaleOut, sweep: Sequence[SweepPoint], width: int | None = None
) -> Table:
    rows = scale_out_rows(scale_out, sweep)
    return _rich(_scale_out_title(scale_out), _SCALE_OUT_HEADERS, rows, width)


def _markdown_table(headers: list[str], rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append(
        "|"
        + "|".join("---:" if _numeric(*column) else "---" for column in enumerate(headers))
        + "|"
    )
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(results: BenchResults) -> str:
    environment, settings = results.environment, results.settings
    lines = [
        "# analytics bench",
        "",
        f"{results.started_at} · {environment.database} · {environment.server} ·"
        f" {environment.cpus} CPUs · Python {environment.python} ·"
        f" {settings.events:,} events (seed {settings.seed}) →"
        f" {results.tables.rows:,} rows",
        "",
        f"**{ratio_line(results)}**",
        "",
        *_markdown_table(_METHOD_HEADERS, method_rows(results)),
        "",
        *(f"- {line}" for line in target_lines(results)),
        "",
    ]
    if results.sweep:
        lines += [
            f"## End to end by fixed batch size ({settings.sweep_events:,} events each)",
            "",
            *_markdown_table(_SWEEP_HEADERS, sweep_rows(results)),
            "",
        ]
    if results.scale_out is not None:
        lines += [
            f"## {_scale_out_title(results.scale_out)}",
            "",
            *_markdown_table(_SCALE_OUT_HEADERS, scale_out_rows(results.scale_out, results.sweep)),
            "",
        ]
    lines += [
        f"## {_stages_title(results)}",
        "",
        *_markdown_table(_STAGE_HEADERS, stage_rows(results)),
        "",
    ]
    if results.long_run is not None:
        lines += [
            f"## {_long_run_title(results.long_run)}",
            "",
            *_markdown_table(_LONG_RUN_HEADERS, long_run_rows(results.long_run)),
            "",
        ]
    lines += ["## Definitions", "", NOTES]
    return "\n".join(lines)
