"""`analytics demo`: the whole pipeline on embedded defaults, in one command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from analytics.cli import app
from analytics.consumer import EXIT_KAFKA_UNREACHABLE
from analytics.db import create_engine
from analytics.schema import READ_MODEL_TABLES, dead_letters
from producer_sim import generate, inject_faults
from producer_sim.randomness import START
from tests.consumer.harness import table_contents
from tests.consumer.proxy import free_port

runner = CliRunner()
EVENTS, SEED = 800, 5


def contents(url: str) -> tuple[dict[str, list[tuple[Any, ...]]], Counter[str]]:
    engine = create_engine(url)
    tables = table_contents(engine)
    with engine.connect() as connection:
        reasons = Counter(connection.execute(sa.select(dead_letters.c.error_class)).scalars())
    engine.dispose()
    return {table.name: tables[table.name] for table in READ_MODEL_TABLES}, reasons


def test_demo_equals_loading_the_same_stream_without_kafka(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANALYTICS_DATABASE_URL", raising=False)
    monkeypatch.delenv("ANALYTICS_BOOTSTRAP_SERVERS", raising=False)
    result = runner.invoke(
        app, ["demo", "--events", str(EVENTS), "--seed", str(SEED), "--start", START.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "analytics-data" / "demo.db").exists()
    assert "analytics report --database-url sqlite:///analytics-data/demo.db" in result.output

    messages = list(
        inject_faults(generate(SEED, EVENTS), seed=SEED, duplicates=0.02, stale=0.02, poison=0.005)
    )
    stream = tmp_path / "stream.jsonl"
    stream.write_bytes(b"\n".join(message.value for message in messages) + b"\n")
    loaded_url = f"sqlite:///{tmp_path / 'loaded.db'}"
    loaded = runner.invoke(app, ["load", "--database-url", loaded_url, str(stream)])
    assert loaded.exit_code == 0, loaded.output

    demo_tables, demo_reasons = contents("sqlite:///analytics-data/demo.db")
    load_tables, load_reasons = contents(loaded_url)
    assert demo_tables == load_tables
    assert sum(demo_reasons.values()) == sum(m.poison is not None for m in messages)
    # Only difference allowed: a wrong-topic check needs a topic, which files do not have.
    assert demo_reasons - Counter(
        {"wrong_topic": demo_reasons["wrong_topic"]}
    ) == load_reasons - Counter({"wrong_topic": load_reasons["wrong_topic"]})
    assert len(demo_tables["orders"]) > 0


def test_demo_runs_again_from_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANALYTICS_DATABASE_URL", raising=False)
    monkeypatch.delenv("ANALYTICS_BOOTSTRAP_SERVERS", raising=False)
    first = runner.invoke(app, ["demo", "--events", "200"])
    second = runner.invoke(app, ["demo", "--events", "200"])
    assert first.exit_code == second.exit_code == 0
    assert (
        first.output.split("Streamed")[1].split("in ")[0]
        == second.output.split("Streamed")[1].split("in ")[0]
    )


def test_demo_with_a_kafka_that_does_not_answer_fails_in_one_line_naming_it(
    tmp_path: Path,
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "analytics", "demo", "--bootstrap-servers", dead],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    assert completed.returncode == EXIT_KAFKA_UNREACHABLE, completed.stderr[-3000:]
    (line,) = completed.stderr.splitlines()
    assert line.startswith("Error: Kafka unreachable")
    assert dead in line
    assert completed.stdout == ""
    assert took < 15
    # Nothing was started or written before the broker was found missing.
    assert not (tmp_path / "analytics-data").exists()
