"""`analytics replay --from`: refused while the service runs; once it is stopped, the group
moves back and the restarted service applies history again over the live tables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics import migrate, offsets
from analytics.broker import EmbeddedBroker
from analytics.db import create_engine
from analytics.events import TOPICS
from tests.chaos.common import faulty_stream, final_verdict
from tests.conftest import scratch_database
from tests.consumer.harness import (
    ROOT,
    ConsumerProcess,
    committed_offsets,
    end_offsets,
    produce,
    wait_caught_up,
)

SEED = 20260302


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(partitions=3, rebalance_delay_ms=0) as running:
        yield running


@pytest.fixture
def live_url(mysql_url: str) -> Iterator[str]:
    with scratch_database(mysql_url) as url:
        migrate.upgrade(url)
        yield url


def replay(bootstrap: str, *arguments: str) -> tuple[int, str]:
    env = {**os.environ, "ANALYTICS_BOOTSTRAP_SERVERS": bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "analytics", "replay", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_replay_is_refused_while_the_service_runs_and_reapplies_history_once_it_is_stopped(
    broker: EmbeddedBroker, live_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(1500, SEED, poison=0.01)
    produce(bootstrap, stream.records)
    live = ConsumerProcess(bootstrap, live_url, tmp_path / "first.log")
    try:
        wait_caught_up(bootstrap, [live])
        code, output = replay(bootstrap, "--from", "earliest")
        assert code == 1, output
        assert "has active members" in output
        assert "stop the service first" in output
        wait_caught_up(bootstrap, [live])  # it lived through the refused replay's join
    finally:
        assert live.stop() == 0
    assert committed_offsets(bootstrap) == end_offsets(bootstrap)

    code, output = replay(bootstrap, "--from", "earliest")
    assert code == 0, output
    assert set(committed_offsets(bootstrap).values()) == {0}

    again = ConsumerProcess(bootstrap, live_url, tmp_path / "again.log")
    try:
        wait_caught_up(bootstrap, [again])
    finally:
        assert again.stop() == 0
    read = sum(e["messages"] for e in again.log_events() if e["event"] == "batch.committed")
    assert read == len(stream.records)
    engine = create_engine(live_url)
    try:
        final_verdict(bootstrap, engine, stream).check()
    finally:
        engine.dispose()


def test_replay_from_a_time_moves_to_the_first_message_stamped_at_or_after_it(
    broker: EmbeddedBroker,
) -> None:
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(600, SEED)
    half = len(stream.records) // 2
    produce(bootstrap, stream.records[:half])
    before = end_offsets(bootstrap)
    time.sleep(0.1)
    moment = datetime.now(UTC)
    time.sleep(0.1)
    produce(bootstrap, stream.records[half:])
    assert end_offsets(bootstrap) != before

    code, output = replay(bootstrap, "--from", moment.isoformat(), "--dry-run")
    assert code == 0, output
    assert set(committed_offsets(bootstrap).values()) == {0}  # a dry run moves nothing
    code, output = replay(bootstrap, "--from", moment.isoformat())
    assert code == 0, output
    assert committed_offsets(bootstrap) == before
    assert offsets.offsets_at(bootstrap, TOPICS, moment) == before
    code, output = replay(bootstrap, "--from", "yesterday")
    assert code == 1
    assert "--from takes 'earliest' or an ISO 8601 time" in output
