"""The next batch is polled and decoded while one is written, and nothing else overlaps:
a batch's write starts only after the previous batch's transaction and offsets are
committed. A scripted Kafka client records the order; the writes are the service's own,
into a migrated SQLite database."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from structlog.testing import capture_logs

from analytics import migrate
from analytics.consumer import Service
from analytics.pipeline import BatchOutcome, DecodedBatch
from analytics.settings import ConsumerSettings
from tests.samples import sample_bytes

BATCH = 3


class Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "user"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return sample_bytes("user.created")


class RecordingConsumer:
    """Hands out `batches` batches of BATCH messages, then stops the service; records
    each fetch and each offset commit in `log`."""

    def __init__(self, log: list[str], batches: int) -> None:
        self.log = log
        self.left = batches
        self.next_offset = 0
        self.service: Service | None = None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        if self.left == 0:
            assert self.service is not None
            self.service.stop()
            return []
        self.left -= 1
        length = self.batch_length(num_messages)
        messages = [Message(self.next_offset + n) for n in range(length)]
        self.next_offset += length
        self.log.append(f"fetched {messages[-1].offset()}")
        return messages

    def batch_length(self, num_messages: int) -> int:
        """How many messages this fetch hands out, of the `num_messages` asked for."""
        return BATCH

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.log.append(f"offsets {offsets[0].offset}")

    def poll(self, timeout: float) -> None:
        return None

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("user", 0)]

    def pause(self, partitions: list[TopicPartition]) -> None:
        return None

    def resume(self, partitions: list[TopicPartition]) -> None:
        return None


def service_on(tmp_path: Path, kafka: RecordingConsumer, batch_max_seconds: float) -> Service:
    """The service over a migrated SQLite database, fed by `kafka`, owning user[0]."""
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    migrate.upgrade(url)

    def factory(_config: dict[str, Any]) -> Any:
        return kafka

    settings = ConsumerSettings(
        database_url=url, batch_size=BATCH, batch_max_seconds=batch_max_seconds
    )
    service = Service(settings, consumer_factory=factory)
    kafka.service = service
    service._on_assign(kafka, [TopicPartition("user", 0)])  # type: ignore[arg-type]
    return service


def test_the_next_batch_is_fetched_during_a_write_and_written_after_its_offsets(
    tmp_path: Path,
) -> None:
    log: list[str] = []
    kafka = RecordingConsumer(log, batches=3)
    service = service_on(tmp_path, kafka, batch_max_seconds=1)
    real_write = service._write
    fetched_during_write = threading.Event()

    def recorded_write(decoded: DecodedBatch) -> BatchOutcome:
        last = decoded.messages[-1].offset
        log.append(f"write {last} starts")
        if last == BATCH - 1:
            # Hold the first write until the main thread has fetched the next batch.
            assert fetched_during_write.wait(timeout=10)
        outcome = real_write(decoded)
        log.append(f"write {last} committed")
        return outcome

    def fetch_and_signal(num_messages: int, timeout: float) -> list[Message]:
        messages = RecordingConsumer.consume(kafka, num_messages, timeout)
        if messages and messages[0].offset() == BATCH:
            fetched_during_write.set()
        return messages

    service._write = recorded_write  # type: ignore[method-assign]
    kafka.consume = fetch_and_signal  # type: ignore[method-assign]
    try:
        service._consume_until_stopped()
    finally:
        service.engine.dispose()

    # Each batch: its write, its commit, then its offsets; the next write only after.
    order = [
        "write 2 starts",
        "write 2 committed",
        "offsets 3",
        "write 5 starts",
        "write 5 committed",
        "offsets 6",
        "write 8 starts",
        "write 8 committed",
        "offsets 9",
    ]
    assert [entry for entry in log if not entry.startswith("fetched")] == order
    # Batch 2 was fetched while batch 1 was being written (which waited for it).
    assert log.index("fetched 5") < log.index("write 2 committed")


class QuietAfterOneBatch(RecordingConsumer):
    """One batch, then a quiet stream: polls wait out their timeout and return nothing."""

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        if self.next_offset == 0:
            return super().consume(num_messages, timeout)
        time.sleep(timeout)
        return []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        super().commit(offsets, asynchronous)
        assert self.service is not None
        self.service.stop()


def test_a_written_batch_s_offsets_do_not_wait_for_the_next_batch_to_fill(
    tmp_path: Path,
) -> None:
    log: list[str] = []
    kafka = QuietAfterOneBatch(log, batches=1)
    # A quiet stream fills no batch: the poll would wait the whole batch_max_seconds.
    service = service_on(tmp_path, kafka, batch_max_seconds=30)
    started = time.monotonic()
    try:
        service._consume_until_stopped()
    finally:
        service.engine.dispose()

    assert log == ["fetched 2", "offsets 3"]
    assert time.monotonic() - started < 5


class RevokedDuringTheWait(RecordingConsumer):
    """The group takes user[0] away during the poll that keeps the consumer in its group
    while the first batch is still being written."""

    def __init__(self, log: list[str], batches: int) -> None:
        super().__init__(log, batches)
        self.revoking = threading.Event()

    def poll(self, timeout: float) -> None:
        if not self.revoking.is_set():
            assert self.service is not None
            self.revoking.set()
            self.service._on_revoke(self, [TopicPartition("user", 0)])  # type: ignore[arg-type]
            self.log.append("revoked")


class RefusesCommitsDuringTheRebalance(RevokedDuringTheWait):
    """As librdkafka's mock cluster does while its group is joining (Kafka accepts them)."""

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))


def revoked_during_the_first_write(
    tmp_path: Path,
    shutdown_grace_seconds: float,
    kafka_type: type[RevokedDuringTheWait] = RevokedDuringTheWait,
) -> list[str]:
    """What the service does when user[0] is revoked while its first batch is written;
    the write is held until the revocation has begun."""
    log: list[str] = []
    kafka = kafka_type(log, batches=2)
    service = service_on(tmp_path, kafka, batch_max_seconds=1)
    service.settings = service.settings.model_copy(
        update={"shutdown_grace_seconds": shutdown_grace_seconds}
    )
    real_write = service._write

    def recorded_write(decoded: DecodedBatch) -> BatchOutcome:
        last = decoded.messages[-1].offset
        log.append(f"write {last} starts")
        assert kafka.revoking.wait(timeout=10)
        time.sleep(0.3)  # the revocation now waits for this write
        outcome = real_write(decoded)
        log.append(f"write {last} committed")
        return outcome

    service._write = recorded_write  # type: ignore[method-assign]
    try:
        service._consume_until_stopped()
    finally:
        service.engine.dispose()
    return [entry for entry in log if not entry.startswith("fetched")]


def test_a_revoked_partition_is_handed_over_after_the_batch_being_written(
    tmp_path: Path,
) -> None:
    # Batch 1's offsets are committed before the partition goes, so its next owner starts
    # after it; batch 2 (offsets 3-5), decoded before the revocation, is never written.
    assert revoked_during_the_first_write(tmp_path, shutdown_grace_seconds=10) == [
        "write 2 starts",
        "write 2 committed",
        "offsets 3",
        "revoked",
    ]


def test_a_write_that_outlives_the_grace_leaves_the_partition_to_its_next_owner(
    tmp_path: Path,
) -> None:
    # The revocation stops waiting: batch 1's rows are committed, but its offsets are the
    # partition's next owner's to commit (it reads the batch again and absorbs it).
    assert revoked_during_the_first_write(tmp_path, shutdown_grace_seconds=0.05) == [
        "write 2 starts",
        "revoked",
        "write 2 committed",
    ]


def test_offsets_the_broker_refuses_leave_the_partition_to_its_next_owner(
    tmp_path: Path,
) -> None:
    with capture_logs() as logs:
        written = revoked_during_the_first_write(
            tmp_path, shutdown_grace_seconds=10, kafka_type=RefusesCommitsDuringTheRebalance
        )
    assert written == ["write 2 starts", "write 2 committed", "revoked"]
    (hand_over,) = [entry for entry in logs if entry["event"].endswith("handed_over")]
    assert hand_over["event"] == "batch.not_handed_over"
    assert hand_over["reason"] == "the broker refused its offsets"
