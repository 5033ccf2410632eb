"""Slow writes make the consumer poll smaller batches, and fast ones let them grow back.
A scripted Kafka client hands out as many messages as the consumer asks for; the writes
are the service's own, into a migrated SQLite database, slowed down where the test says."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from analytics import migrate
from analytics.consumer import Service
from analytics.pipeline import BatchOutcome, DecodedBatch
from analytics.settings import ConsumerSettings
from tests.consumer.test_overlap import RecordingConsumer

BATCH_SIZE = 400
FLOOR = 100


class AsManyAsAsked(RecordingConsumer):
    """Hands out the messages each consume() asks for, `batches` times, then stops the
    service; records how many were asked for."""

    def __init__(self, batches: int) -> None:
        super().__init__([], batches)
        self.asked: list[int] = []

    def batch_length(self, num_messages: int) -> int:
        self.asked.append(num_messages)
        return num_messages


def run_service(tmp_path: Path, kafka: AsManyAsAsked, slow_batches: int) -> Service:
    """The service over SQLite, fed by `kafka`; its first `slow_batches` writes take
    0.6 s more than they do, five times the target: the limit drops to its floor."""
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    migrate.upgrade(url)

    def factory(_config: dict[str, Any]) -> Any:
        return kafka

    settings = ConsumerSettings(
        database_url=url, batch_size=BATCH_SIZE, batch_max_seconds=5, batch_target_seconds=0.12
    )
    service = Service(settings, consumer_factory=factory)
    kafka.service = service
    service._on_assign(kafka, [TopicPartition("user", 0)])  # type: ignore[arg-type]
    real_write = service._write
    writes = 0

    def write(decoded: DecodedBatch) -> BatchOutcome:
        nonlocal writes
        writes += 1
        if writes <= slow_batches:
            time.sleep(0.6)
        return real_write(decoded)

    service._write = write  # type: ignore[method-assign]
    try:
        service._consume_until_stopped()
    finally:
        service.engine.dispose()
    return service


def test_slow_writes_shrink_the_batches_to_the_floor(tmp_path: Path) -> None:
    kafka = AsManyAsAsked(batches=5)
    service = run_service(tmp_path, kafka, slow_batches=5)

    # The second batch was polled while the first was written, before its time was known.
    assert kafka.asked[:2] == [BATCH_SIZE, BATCH_SIZE]
    assert kafka.asked[2:] == [FLOOR] * 3
    assert service.metrics.registry.get_sample_value("analytics_batch_limit") == FLOOR


def test_fast_writes_let_them_grow_back_to_batch_size(tmp_path: Path) -> None:
    kafka = AsManyAsAsked(batches=8)
    run_service(tmp_path, kafka, slow_batches=2)

    assert kafka.asked[2] == FLOOR
    assert max(kafka.asked[3:]) > FLOOR
    assert kafka.asked[-1] == BATCH_SIZE
