"""SIGKILL at any moment loses nothing and duplicates nothing."""

from __future__ import annotations

import random
import time
from pathlib import Path

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from tests.consumer.harness import (
    ConsumerProcess,
    all_messages,
    committed_offsets,
    effect_is_stored,
    produce,
    reference_contents,
    simulated_stream,
    table_contents,
    wait_caught_up,
)

KILLS = 6


def batches_committed(consumer: ConsumerProcess) -> int:
    return sum(event["event"] == "batch.committed" for event in consumer.log_events())


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    records, poison = simulated_stream(4000)
    produce(broker.bootstrap_servers, records)
    messages = {(m.topic, m.partition, m.offset): m for m in all_messages(broker.bootstrap_servers)}
    moments = random.Random(20251115)
    settings = {"batch_size": 100, "session_timeout_ms": 2000, "max_poll_interval_ms": 2000}
    log = tmp_path / "consumer.log"
    progress = []
    for _ in range(KILLS):
        consumer = ConsumerProcess(broker.bootstrap_servers, mysql_url, log, **settings)
        # Kill after a few batches, at a random instant: often inside a transaction.
        seen = batches_committed(consumer)
        while batches_committed(consumer) < seen + moments.randint(1, 4):
            assert consumer.alive(), consumer.logs()[-2000:]
            time.sleep(0.01)
        time.sleep(moments.uniform(0, 0.05))
        consumer.kill()
        # Committed offsets never run ahead of what the database holds.
        committed = committed_offsets(broker.bootstrap_servers)
        with mysql_only.connect() as connection:
            for (topic, partition), offset in committed.items():
                if offset:
                    last = messages[topic, partition, offset - 1]
                    assert effect_is_stored(connection, last), (topic, partition, offset)
        progress.append(sum(committed.values()))
    assert progress[-1] < len(messages), f"the kills should land mid-run: {progress}"
    consumer = ConsumerProcess(broker.bootstrap_servers, mysql_url, log, **settings)
    try:
        wait_caught_up(broker.bootstrap_servers, [consumer], timeout=120)
    finally:
        assert consumer.stop() == 0
    outcome = table_contents(mysql_only)
    assert len(outcome["dead_letters"]) == poison
    assert outcome == reference_contents(broker.bootstrap_servers, mysql_only)
