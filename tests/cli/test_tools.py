"""The tools' command lines: demo, simulate and bench (load, report and dlq have their
modules' tests)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner, Result

from analytics import bench, demo, migrate, offsets, report
from analytics.broker import EmbeddedBroker
from analytics.cli import app, tools
from analytics.db import create_engine
from analytics.events import TOPICS
from analytics.schema import dead_letters, metadata
from tests.conftest import scratch_database

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in metadata.sorted_tables
        }
    engine.dispose()
    return counts


# --- demo ---------------------------------------------------------------------------------


def test_the_demo_leaves_the_servers_of_the_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mysql_url: str
) -> None:
    """An operator who exported the service's variables and then runs the demo: the real
    database (a migrated MariaDB database here) and the real broker stay untouched."""
    monkeypatch.chdir(tmp_path)
    with scratch_database(mysql_url) as real_database, EmbeddedBroker() as real_broker:
        migrate.upgrade(real_database)
        env = {
            "ANALYTICS_DATABASE_URL": real_database,
            "ANALYTICS_BOOTSTRAP_SERVERS": real_broker.bootstrap_servers,
        }
        result = invoke("demo", "--events", "300", env=env)
        assert result.exit_code == 0, result.output
        assert set(row_counts(real_database).values()) == {0}
        ends = offsets.end_offsets(real_broker.bootstrap_servers, TOPICS)
        assert set(ends.values()) == {0}
    assert result.stdout.startswith(
        "Demo: Kafka is the embedded broker; the database is a fresh"
        " sqlite:///analytics-data/demo.db. (ANALYTICS_BOOTSTRAP_SERVERS and"
        " ANALYTICS_DATABASE_URL not read: the demo uses other servers only when given"
        " --bootstrap-servers or --database-url.)\n"
    )
    assert sum(row_counts("sqlite:///analytics-data/demo.db").values()) > 0


def test_the_demo_shows_what_the_guarantees_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("demo", "--events", "600", "--duplicates", "0.05", "--stale", "0.05")
    assert result.exit_code == 0, result.output
    injected = re.search(
        r"Injected: (\d+) duplicate deliveries, (\d+) stale re-sends and (\d+) poison messages"
        r" among 600 events\.",
        result.stdout,
    )
    assert injected is not None, result.stdout
    duplicates, stale, poison = map(int, injected.groups())
    assert min(duplicates, stale, poison) > 0
    absorbed = re.search(
        r"Absorbed: (\d+) of (\d+) re-sent messages — (\d+) skipped as older than the stored"
        r" row, (\d+) applied again at their own version \(no row changed\)\.",
        result.stdout,
    )
    assert absorbed is not None, result.stdout
    assert int(absorbed[1]) == int(absorbed[2]) == duplicates + stale
    assert int(absorbed[3]) > 0
    assert f"Dead-lettered: {poison} of {poison} poison messages" in result.stdout


# --- simulate -----------------------------------------------------------------------------


def timestamps(path: Path) -> list[datetime]:
    return [
        datetime.fromisoformat(json.loads(line)["timestamp"])
        for line in path.read_bytes().splitlines()
    ]


@pytest.mark.parametrize(
    "options",
    [["--events", "3000"], ["--events", "300", "--domains", "supplier"]],
    ids=["all topics", "one topic"],
)
def test_a_simulated_world_ends_in_the_recent_past(tmp_path: Path, options: list[str]) -> None:
    """`report --days N` counts from today, and the service dead-letters events from its
    future: by default the world ends before the run started, and not long before."""
    path = tmp_path / "events.jsonl"
    before = datetime.now(UTC)
    result = invoke("simulate", *options, "--output", str(path))
    assert result.exit_code == 0, result.output
    stamps = timestamps(path)
    assert len(stamps) == int(options[1])
    assert max(stamps) <= datetime.now(UTC)
    assert min(stamps) >= before - timedelta(days=31)


def test_a_world_that_reaches_the_present_ends_there(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    start = datetime.now(UTC) - timedelta(seconds=60)
    result = invoke("simulate", "--start", start.isoformat(), "--output", str(path))
    assert result.exit_code == 0, result.output
    stamps = timestamps(path)
    assert 0 < len(stamps) < 1000
    assert max(stamps) <= datetime.now(UTC)
    assert f"It reached the present after {len(stamps)} events" in result.stderr


@pytest.mark.parametrize(("colliding", "conflicts"), [(False, 0), (True, 1)])
def test_order_numbers_collide_between_runs_only_when_asked(
    tmp_path: Path, colliding: bool, conflicts: int
) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    start = "2025-06-01T00:00:00+00:00"  # both runs on the same days
    fault = ["--colliding-order-numbers"] if colliding else []
    for seed in ("1", "2"):
        path = tmp_path / f"seed-{seed}.jsonl"
        options = ["--seed", seed, "--events", "3000", "--start", start, *fault]
        assert invoke("simulate", *options, "--output", str(path)).exit_code == 0
        loaded = invoke("load", "--database-url", url, str(path))
        assert loaded.exit_code == 0, loaded.output
    engine = create_engine(url)
    with engine.connect() as connection:
        reasons = Counter(connection.execute(sa.select(dead_letters.c.error_class)).scalars())
    engine.dispose()
    assert set(reasons) <= {"key_conflict"}
    assert min(reasons["key_conflict"], 1) == conflicts


# --- defaults -----------------------------------------------------------------------------


def test_help_shows_the_tools_own_defaults() -> None:
    """The defaults are written in the command line so that --help needs no bench import."""
    assert (tools.BENCH_EVENTS, tools.BENCH_BATCH_SIZE, tools.BENCH_BATCH_SIZES) == (
        bench.DEFAULT_EVENTS,
        bench.DEFAULT_BATCH_SIZE,
        bench.DEFAULT_BATCH_SIZES,
    )
    assert (tools.BENCH_BASELINE_EVENTS, tools.BENCH_DATABASE_URL) == (
        bench.DEFAULT_BASELINE_EVENTS,
        bench.DEFAULT_DATABASE_URL,
    )
    assert (tools.BENCH_OUTPUT_DIR, tools.BENCH_SEED, tools.BENCH_PARTITIONS) == (
        bench.DEFAULT_OUTPUT_DIR,
        bench.DEFAULT_SEED,
        bench.DEFAULT_PARTITIONS,
    )
    assert tools.BENCH_SCALE_OUT == bench.DEFAULT_SCALE_OUT
    assert tools.BENCH_LONG_EVENTS == bench.DEFAULT_LONG_EVENTS
    assert tools.DEFAULT_TOP == report.DEFAULT_TOP
    assert tools.DEFAULT_DEMO_DATABASE == demo.DEFAULT_DEMO_DATABASE
    root = typer.main.get_command(app)
    assert root.commands["bench"].params  # type: ignore[attr-defined]
