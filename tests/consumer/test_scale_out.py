"""Two consumers in one group split the partitions and survive one of them leaving."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from analytics.events import TOPICS
from tests.consumer.conftest import PARTITIONS
from tests.consumer.harness import (
    ConsumerProcess,
    produce,
    reference_contents,
    simulated_stream,
    table_contents,
    wait_caught_up,
)


def broker_partitions() -> list[str]:
    return [f"{topic}[{p}]" for topic in TOPICS for p in range(PARTITIONS)]


def assigned(consumer: ConsumerProcess) -> set[str]:
    """The partitions the consumer holds now, from its assignment/revocation log."""
    held: set[str] = set()
    for event in consumer.log_events():
        if event["event"] == "partitions.assigned":
            held |= set(event["partitions"])
        elif event["event"] == "partitions.revoked":
            held -= set(event["partitions"])
    return held


def committed_batches(consumer: ConsumerProcess) -> int:
    return sum(event["event"] == "batch.committed" for event in consumer.log_events())


def test_two_consumers_share_the_work_and_one_leaving_loses_nothing(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    records, _ = simulated_stream(5000)
    produce(broker.bootstrap_servers, records)
    settings = {"batch_size": 50, "session_timeout_ms": 3000, "max_poll_interval_ms": 3000}
    first = ConsumerProcess(broker.bootstrap_servers, mysql_url, tmp_path / "a.log", **settings)
    second = ConsumerProcess(broker.bootstrap_servers, mysql_url, tmp_path / "b.log", **settings)
    try:
        deadline = time.monotonic() + 60
        while not (assigned(first) and assigned(second) and committed_batches(second) >= 2):
            assert time.monotonic() < deadline, first.logs()[-2000:] + second.logs()[-2000:]
            time.sleep(0.05)
        split_first, split_second = assigned(first), assigned(second)
        assert split_first.isdisjoint(split_second)
        assert len(split_first | split_second) == len(broker_partitions())
        second.send(signal.SIGTERM)
        assert second.wait() == 0
        wait_caught_up(broker.bootstrap_servers, [first])
        assert assigned(first) == set(broker_partitions())
    finally:
        assert first.stop() == 0
        if second.alive():
            second.stop()
    assert committed_batches(first) > 0
    outcome = table_contents(mysql_only)
    assert outcome == reference_contents(broker.bootstrap_servers, mysql_only)
