"""`analytics bench`: a small run of every method against a real MariaDB/MySQL server.

Only the shape of the results and the agreement of the methods are checked; timings on
a shared machine are too noisy to assert anything about.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from analytics import bench
from analytics.bench import (
    RESULTS_FILE,
    SUMMARY_FILE,
    BenchError,
    BenchOptions,
    BenchResults,
    Progress,
    load,
    long_run_table,
    longrun,
    methods_table,
    run,
    scale_out_table,
    stages_table,
    sweep_table,
)
from analytics.bench.database import connect
from analytics.bench.e2e import Batch, E2EResult, RssSample, _consumer_environment
from analytics.bench.runner import percentile
from analytics.bench.stages import STAGES
from analytics.cli import app
from analytics.records import BatchCommitted
from tests.terminal import WIDTHS, assert_readable

runner = CliRunner()
RATE_FIELDS = ("events", "rows", "row_writes", "seconds", "events_per_second", "rows_per_second")
E2E_FIELDS = (
    *RATE_FIELDS,
    "batch_size",
    "batches",
    "batch_seconds_p50",
    "batch_seconds_p99",
    "peak_rss_mb",
    "rss_samples",
    "consumer_log",
)


@pytest.fixture
def bench_url(mysql_url: str) -> Iterator[str]:
    """A database of its own next to the test database, dropped afterwards."""
    test_url = make_url(mysql_url)
    url = test_url.set(database=f"{test_url.database}_bench")
    yield url.render_as_string(hide_password=False)
    server = connect(url, with_database=False)
    try:
        server.cursor().execute(f"DROP DATABASE IF EXISTS `{url.database}`")
    finally:
        server.close()


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def test_small_run_reports_every_method_on_the_same_tables(
    bench_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    returned: list[BenchResults] = []

    def run_and_keep(options: BenchOptions, progress: Progress | None = None) -> BenchResults:
        returned.append(run(options, progress))
        return returned[-1]

    monkeypatch.setattr(bench, "run", run_and_keep)  # what the command line's run returned
    arguments = ["bench", "--events", "600", "--batch-sizes", "200", "--baseline-events", "100"]
    arguments += ["--scale-out", "2", "--database-url", bench_url, "--output-dir", str(tmp_path)]
    arguments += ["--long-events", "900"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "× raw ceiling" in result.output
    assert "× seed-style baseline" in result.output

    results = load(tmp_path / RESULTS_FILE)
    assert results == returned[0]  # the file holds all of it, as it was
    summary = (tmp_path / SUMMARY_FILE).read_text()
    assert "raw ceiling" in summary
    assert "End to end by fixed batch size" in summary

    e2e, raw, baseline = results.e2e, results.raw, results.baseline
    for method, fields in ((e2e, E2E_FIELDS), (raw, RATE_FIELDS), (baseline, RATE_FIELDS)):
        written = method.model_dump()
        missing = [name for name in fields if name not in written]
        assert missing == [], f"{type(method).__name__} lacks {missing}"
        assert all(_positive(written[name]) for name in RATE_FIELDS), written
    assert e2e.events == raw.events == 600
    assert baseline.events == 100
    assert baseline.prepared_events == 500
    assert results.decode_only.events == 600
    assert _positive(results.decode_only.events_per_second)
    assert "decoding and mapping only" in summary
    assert results.scale_out is not None
    for width in WIDTHS:
        e2e_rate = f"{e2e.events_per_second:,.0f}"
        assert_readable(methods_table(results, width), width, ["seed-style baseline", e2e_rate])
        assert_readable(sweep_table(results, width), width, [])
        assert_readable(scale_out_table(results.scale_out, results.sweep, width), width, [])

    # One stream, three ways of writing it, the same tables.
    rows = results.tables.rows
    assert rows == sum(results.tables.per_table.values()) > 0
    assert e2e.rows == raw.rows == baseline.rows == rows
    assert raw.tables_match is True
    assert baseline.tables_match is True
    assert e2e.dead_lettered == e2e.stale == 0
    assert e2e.applied == 600

    assert _positive(results.ratios.e2e_vs_raw)
    assert _positive(results.ratios.e2e_vs_baseline)
    assert set(results.targets.model_dump()) == {"e2e_vs_raw", "e2e_vs_baseline", "peak_rss_mb"}
    assert e2e.batch_seconds_p50 <= e2e.batch_seconds_p99

    (point,) = results.sweep
    assert point.batch_size == 200
    assert point.events == 150
    assert _positive(point.events_per_second)
    assert _positive(point.peak_rss_mb)
    assert Path(point.consumer_log).exists()

    # The sweep's events again, through two consumers of one group: the same tables.
    scale_out = results.scale_out
    assert scale_out.consumers == 2
    assert scale_out.events == 150
    assert scale_out.batch_size == results.settings.batch_size
    assert scale_out.tables_match is True
    assert scale_out.rows == point.rows
    assert _positive(scale_out.events_per_second)
    assert scale_out.applied_again >= 0  # a rebalance can make it apply some twice
    assert 0 < scale_out.timed_events <= 150  # but counts each event once
    peaks = scale_out.peak_rss_mb_per_consumer
    assert len(peaks) == 2
    assert all(_positive(peak) for peak in peaks)
    assert scale_out.peak_rss_mb == max(peaks)
    assert all(Path(log).exists() for log in scale_out.consumer_logs)
    assert "Scale-out" in summary
    assert "Scale-out" in result.output

    # Every stage measured on the sweep's events; the total is their sum.
    stage_costs = results.stages
    assert stage_costs.events == 150
    per_stage = stage_costs.microseconds_per_event
    assert list(per_stage) == list(STAGES)
    assert all(_positive(per_stage[stage]) for stage in ("decode", "map", "plan", "render"))
    assert stage_costs.total_microseconds_per_event == pytest.approx(
        sum(per_stage.values()), abs=0.5
    )
    assert "Cost of each stage" in summary
    assert "Cost of each stage" in result.output

    # The long run, in segments that add up to its events.
    long_run = results.long_run
    assert long_run is not None
    assert long_run.events == 900
    segments = long_run.segments
    assert segments
    assert [s.first_event for s in segments[1:]] == [
        s.first_event + s.events for s in segments[:-1]
    ]
    assert 0 < sum(s.events for s in segments) <= 900
    assert set(long_run.targets.model_dump()) == {
        "last_segment_vs_first",
        "peak_rss_mb",
        "batch_seconds_p99",
    }
    assert "Long run" in summary
    for width in WIDTHS:
        assert_readable(stages_table(results, width), width, list(STAGES))
        assert_readable(long_run_table(long_run, width), width, [])


def test_sqlite_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    options = BenchOptions(database_url=f"sqlite:///{tmp_path / 'bench.db'}", output_dir=tmp_path)
    with pytest.raises(BenchError, match="SQLite is not supported"):
        run(options)
    result = runner.invoke(app, ["bench", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 1
    assert "SQLite is not supported" in result.output


def test_a_database_not_meant_for_benchmarks_is_refused(mysql_url: str) -> None:
    url = make_url(mysql_url).set(database="analytics").render_as_string(hide_password=False)
    with pytest.raises(BenchError, match="must contain 'bench'"):
        run(BenchOptions(database_url=url))


def _batch(at: float, messages: int, limit: int = 1000) -> Batch:
    record = BatchCommitted(messages, messages, 0, 0, 0.1, limit)
    return Batch(datetime(2025, 1, 1) + timedelta(seconds=at), record)


def _one_consumer(
    batches: list[Batch], events: int, rss_samples: list[RssSample] | None = None
) -> E2EResult:
    """One consumer's run at batch size 1000, started at 0 s."""
    return E2EResult(
        events=events,
        batch_size=1000,
        partitions=16,
        first_poll=datetime(2025, 1, 1),
        batches_by_consumer=[batches],
        peak_rss_mb_by_consumer=[100.0],
        rss_samples=rss_samples or [],
        log_paths=[Path("a.log")],
        min_backlog=None,
    )


def test_scaled_out_timing_counts_each_event_once() -> None:
    """Two consumers, 3,500 events, batch size 1000. The first consumer's first batch is
    applied again after the second one joins; each ends with a partial batch that only
    waited for the end of the stream."""
    first = [_batch(1.0, 1000), _batch(2.0, 1000), _batch(3.0, 1000), _batch(4.5, 100)]
    second = [_batch(2.5, 1000), _batch(3.5, 400)]
    result = E2EResult(
        events=3500,
        batch_size=1000,
        partitions=16,
        first_poll=datetime(2025, 1, 1),
        batches_by_consumer=[first, second],
        peak_rss_mb_by_consumer=[100.0, 90.0],
        rss_samples=[],
        log_paths=[Path("a.log"), Path("b.log")],
        min_backlog=None,
    )
    assert result.consumers == 2
    assert result.peak_rss_mb == 100.0
    assert result.applied_messages == 4500
    assert result.applied_again == 1000
    # The window ends with the last full batch (3.0 s); the second consumer's partial
    # batch at 3.5 s and the first one's at 4.5 s are left out.
    assert result.seconds == 3.0
    assert result.timed_events == 4000 - 1000  # the batches up to 3.0 s, less the repeat
    assert result.events_per_second == 1000.0
    assert result.steady_events_per_second == (3000 - 1000) / 2.0


def test_a_last_batch_filled_to_a_lowered_limit_stays_in_the_window() -> None:
    """Batch size 1000, but the limit came down to 400: a last batch of 400 was full,
    not a partial one that waited for the end of the stream."""
    batches = [_batch(1.0, 1000), _batch(2.0, 400, limit=400), _batch(3.0, 400, limit=400)]
    result = _one_consumer(batches, events=1800)
    assert result.seconds == 3.0
    assert result.timed_events == 1800


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([0.3], 0.99) == 0.3
    assert percentile([], 0.5) == 0.0


def test_long_run_segments_cut_at_each_multiple_of_the_segment_size() -> None:
    """Batches of 1000 at one per second; segments of 2,500 events end on the first
    batch that reaches a multiple; the final partial batch (it only waited for the end of
    the stream) is left out."""
    batches = [_batch(float(second), 1000) for second in range(1, 7)] + [_batch(9.0, 300)]
    samples = [RssSample(1000, 90.0), RssSample(4000, 120.0)]
    result = _one_consumer(batches, events=6300, rss_samples=samples)
    segments = longrun.segments(result, {2500: 11, 5000: 22, 6300: 33}, percentile, size=2500)
    assert [(s.first_event, s.events, s.seconds) for s in segments] == [
        (0, 3000, 3.0),
        (3000, 3000, 3.0),
    ]
    assert [s.rows_at_end for s in segments] == [11, 33]  # the last: at the end of the run
    assert [s.peak_rss_mb for s in segments] == [90.0, 120.0]
    assert segments[0].events_per_second == 1000.0


def test_the_sweep_s_consumers_run_with_fixed_batches_and_the_others_with_the_limit() -> None:
    limited = _consumer_environment("broker:9092", "mysql://bench", 5000, fixed_batches=False)
    fixed = _consumer_environment("broker:9092", "mysql://bench", 5000, fixed_batches=True)

    assert "ANALYTICS_BATCH_TARGET_SECONDS" not in limited  # the service's default
    assert fixed["ANALYTICS_BATCH_TARGET_SECONDS"] == "0"
    assert fixed["ANALYTICS_BATCH_SIZE"] == limited["ANALYTICS_BATCH_SIZE"] == "5000"
