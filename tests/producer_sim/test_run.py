"""`analytics simulate` and the run behind it: files, standard output, Kafka, progress."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from typer.testing import CliRunner, Result

from analytics.broker import EmbeddedBroker
from analytics.cli import app
from analytics.consumer import EXIT_KAFKA_UNREACHABLE
from analytics.errors import InvalidEvent
from analytics.events import TOPICS, decode_event
from producer_sim import generate
from producer_sim.randomness import START
from producer_sim.run import Simulation, describe, run
from tests.consumer.proxy import free_port

runner = CliRunner()
FIRST = START.isoformat()  # generate()'s start: the same bytes


def simulate(*args: str) -> Result:
    return runner.invoke(app, ["simulate", *args])


def test_simulate_writes_one_event_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    result = simulate("--seed", "42", "--events", "120", "--start", FIRST, "--output", str(path))
    assert result.exit_code == 0, result.output
    lines = path.read_bytes().splitlines()
    assert len(lines) == 120
    assert lines == [message.value for message in generate(42, 120)]
    assert result.stdout == ""
    # Not a terminal, and still the summary (on standard error: the events may be on stdout).
    assert result.stderr == (
        f"Wrote 120 messages (120 events) to {path}.\n"
        "The simulated world starts at 2025-01-15 10:00:00 UTC.\n"
    )


def test_simulate_to_standard_output_by_default() -> None:
    result = simulate("--seed", "5", "--events", "30", "--start", FIRST)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.splitlines() == [m.value for m in generate(5, 30)]
    dashed = simulate("--seed", "5", "--events", "30", "--start", FIRST, "--output", "-")
    assert dashed.stdout_bytes == result.stdout_bytes


def test_simulate_with_faults_and_domains(tmp_path: Path) -> None:
    path = tmp_path / "faulty.jsonl"
    faults = ("--duplicates", "0.1", "--stale", "0.1", "--poison", "0.1")
    result = simulate("--events", "300", "--domains", "user,order", *faults, "--output", str(path))
    assert result.exit_code == 0, result.output
    lines = path.read_bytes().splitlines()
    valid, poison = [], 0
    for line in lines:
        try:
            valid.append(decode_event(line))
        except InvalidEvent:
            poison += 1
    assert len(lines) > 300 + poison
    assert 0 < poison < 100
    assert {event.event_type.split(".")[0] for event in valid} == {"user", "order"}


def test_simulate_refuses_bad_options(tmp_path: Path) -> None:
    assert simulate("--domains", "user,nope").exit_code == 2
    assert simulate("--poison", "1.5").exit_code == 2
    assert simulate("--events", "-1").exit_code == 2
    both = simulate("--output", str(tmp_path / "x.jsonl"), "--bootstrap-servers", "h:9092")
    assert both.exit_code == 2
    assert not (tmp_path / "x.jsonl").exists()


def test_simulate_to_kafka() -> None:
    with EmbeddedBroker(partitions=2) as broker:
        result = simulate("--events", "200", "--bootstrap-servers", broker.bootstrap_servers)
        assert result.exit_code == 0, result.output
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "t"})
        stored = 0
        for topic in TOPICS:
            for partition in range(2):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                stored += high - low
        consumer.close()
    assert stored == 200


def test_progress_is_shown_only_on_a_terminal(tmp_path: Path) -> None:
    simulation = Simulation(seed=1, events=200, poison=0.1)
    shown = io.StringIO()
    terminal = Console(file=shown, force_terminal=True, width=120)
    tally = run(simulation, terminal, output=tmp_path / "a.jsonl")
    assert tally.clean == 200
    assert tally.total == len((tmp_path / "a.jsonl").read_bytes().splitlines())
    assert "Simulating" in shown.getvalue()
    assert "events/s" in shown.getvalue()
    quiet = io.StringIO()
    run(simulation, Console(file=quiet, force_terminal=False), output=tmp_path / "b.jsonl")
    assert quiet.getvalue() == ""
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_describe_names_what_was_written() -> None:
    simulation = Simulation(seed=2, events=100, duplicates=0.2, stale=0.2, poison=0.2)
    counts = {"clean": 0, "duplicate": 0, "stale": 0, "poison": 0}
    for message in simulation.messages():
        kind = "poison" if message.poison else message.resend or "clean"
        counts[str(kind)] += 1
    tally = run(simulation, Console(file=io.StringIO()), output=Path("/dev/null"))
    assert (tally.clean, tally.duplicates, tally.stale, tally.poison) == tuple(counts.values())
    text = describe(tally, "out.jsonl")
    assert text.startswith(f"Wrote {tally.total} messages (100 events, ")
    assert text.endswith(" to out.jsonl.")


def test_a_duration_bounds_the_run(tmp_path: Path) -> None:
    by_time = tmp_path / "by_time.jsonl"
    result = runner.invoke(
        app, ["simulate", "--duration", "0.3", "--rate", "100", "--output", str(by_time)]
    )
    assert result.exit_code == 0, result.output
    # The rate caps what 0.3 s can hold; a busy machine only makes it fewer.
    assert 0 < len(by_time.read_bytes().splitlines()) <= 31
    by_count = tmp_path / "by_count.jsonl"
    result = runner.invoke(
        app, ["simulate", "--duration", "30", "--events", "50", "--output", str(by_count)]
    )
    assert result.exit_code == 0, result.output
    assert len(by_count.read_bytes().splitlines()) == 50


def test_simulate_to_a_kafka_that_does_not_answer_fails_in_one_line_naming_it() -> None:
    dead = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "analytics", "simulate", "--bootstrap-servers", dead],
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
    assert "Connection refused" in line
    assert completed.stdout == ""
    assert took < 15
