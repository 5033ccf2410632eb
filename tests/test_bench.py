"""`analytics bench`: a small run of every method against a real MariaDB/MySQL server.

Only the shape of the results and the agreement of the methods are checked; timings on
a shared machine are too noisy to assert anything about.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from analytics.bench import RESULTS_FILE, SUMMARY_FILE, BenchError, BenchOptions, run
from analytics.bench.database import connect
from analytics.bench.runner import percentile
from analytics.cli import app

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


def test_small_run_reports_every_method_on_the_same_tables(bench_url: str, tmp_path: Path) -> None:
    arguments = ["bench", "--events", "600", "--batch-sizes", "200", "--baseline-events", "100"]
    arguments += ["--database-url", bench_url, "--output-dir", str(tmp_path)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "× raw ceiling" in result.output
    assert "× seed-style baseline" in result.output

    results = json.loads((tmp_path / RESULTS_FILE).read_text())
    summary = (tmp_path / SUMMARY_FILE).read_text()
    assert "raw ceiling" in summary
    assert "End to end by batch size" in summary

    for method, fields in (("e2e", E2E_FIELDS), ("raw", RATE_FIELDS), ("baseline", RATE_FIELDS)):
        missing = [name for name in fields if name not in results[method]]
        assert missing == [], f"{method} lacks {missing}"
        assert all(_positive(results[method][name]) for name in RATE_FIELDS), results[method]
    e2e, raw, baseline = results["e2e"], results["raw"], results["baseline"]
    assert e2e["events"] == raw["events"] == 600
    assert baseline["events"] == 100
    assert baseline["prepared_events"] == 500
    assert results["decode_only"]["events"] == 600
    assert _positive(results["decode_only"]["events_per_second"])
    assert "decoding and mapping only" in summary

    # One stream, three ways of writing it, the same tables.
    rows = results["tables"]["rows"]
    assert rows == sum(results["tables"]["per_table"].values()) > 0
    assert e2e["rows"] == raw["rows"] == baseline["rows"] == rows
    assert raw["tables_match"] is True
    assert baseline["tables_match"] is True
    assert e2e["dead_lettered"] == e2e["stale"] == 0
    assert e2e["applied"] == 600

    assert _positive(results["ratios"]["e2e_vs_raw"])
    assert _positive(results["ratios"]["e2e_vs_baseline"])
    assert set(results["targets"]) == {"e2e_vs_raw", "e2e_vs_baseline", "peak_rss_mb"}
    assert e2e["batch_seconds_p50"] <= e2e["batch_seconds_p99"]

    (point,) = results["sweep"]
    assert point["batch_size"] == 200
    assert point["events"] == 150
    assert _positive(point["events_per_second"])
    assert _positive(point["peak_rss_mb"])
    assert Path(point["consumer_log"]).exists()


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


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([0.3], 0.99) == 0.3
    assert percentile([], 0.5) == 0.0
