"""The service: consume the topics and keep the read model current.

The loop, and the order that makes it safe, in one place (`Service._handle`):

1. poll a batch — up to `batch_size` messages or `batch_max_seconds`, whichever comes first;
2. write it — decode, apply and dead-letter in ONE database transaction, then commit it;
3. commit the offsets of exactly the messages that transaction covered.

Offsets are never committed automatically, so a crash at any point re-reads from the last
committed offset; replayed messages are absorbed by the idempotent apply. Transient
database errors are retried with capped exponential backoff and jitter while the consumer
keeps polling (with its partitions paused) so that it stays in its group.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import sqlalchemy as sa
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from analytics.db import create_engine
from analytics.deadletters import Source
from analytics.metrics import Health, Metrics, serve
from analytics.pipeline import BatchOutcome, freeze_startup_objects, process_batch
from analytics.settings import ConsumerSettings

log = structlog.get_logger("analytics.consumer")

EXIT_OK = 0
EXIT_DEAD_LETTER_FLOOD = 3
EXIT_RETRIES_EXHAUSTED = 4
EXIT_KAFKA_FATAL = 5

Partition = tuple[str, int]


class DeadLetterFlood(Exception):
    """Nearly every recent message failed: a bad deploy or a wrong topic, not bad data."""


class RetriesExhausted(Exception):
    pass


def kafka_config(settings: ConsumerSettings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": settings.group_id,
        "auto.offset.reset": "earliest",
        # Offsets move only when this code commits them, after the database commit.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "session.timeout.ms": settings.session_timeout_ms,
        # Several heartbeats per session, as Kafka recommends; librdkafka's default (3 s)
        # would expire any session shorter than that.
        "heartbeat.interval.ms": max(100, settings.session_timeout_ms // 3),
        "max.poll.interval.ms": settings.max_poll_interval_ms,
        "client.id": "social-analytics",
        # librdkafka's statistics carry each partition's consumer lag (see _on_statistics).
        "statistics.interval.ms": 1000,
    }


def is_transient(exc: BaseException) -> bool:
    """Database trouble that a retry can fix; everything else is a bug and stops the service.

    Data errors never get here: `apply` turns them into dead letters.
    """
    return isinstance(exc, sa.exc.DBAPIError | sa.exc.DisconnectionError | sa.exc.TimeoutError)


@dataclass(frozen=True)
class Backoff:
    initial: float
    maximum: float

    def delay(self, attempt: int) -> float:
        """Full jitter over a capped exponential: spreads retries of many consumers."""
        ceiling = min(self.maximum, self.initial * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


class DeadLetterGuard:
    """Tracks the share of dead letters among the last `window` messages."""

    def __init__(self, max_ratio: float, window: int) -> None:
        self.max_ratio = max_ratio
        self.window: deque[bool] = deque(maxlen=window)

    def check(self, outcome: BatchOutcome, total: int) -> None:
        """Raise before commit if this batch would push the ratio over the limit."""
        failed = len(outcome.dead_letters)
        recent = [*self.window, *([True] * failed), *([False] * (total - failed))]
        recent = recent[-(self.window.maxlen or 1) :]
        if len(recent) == self.window.maxlen and sum(recent) / len(recent) > self.max_ratio:
            raise DeadLetterFlood(
                f"{sum(recent)} of the last {len(recent)} messages were dead-lettered "
                f"(limit {self.max_ratio:.0%}); stopping instead of dead-lettering the topic"
            )

    def record(self, outcome: BatchOutcome, total: int) -> None:
        failed = len(outcome.dead_letters)
        self.window.extend([True] * failed + [False] * (total - failed))


class Service:
    def __init__(
        self,
        settings: ConsumerSettings,
        consumer_factory: Callable[[dict[str, Any]], Consumer] = Consumer,
    ) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.engine = create_engine(settings.database_url)
        self.consumer = consumer_factory(kafka_config(settings) | {"stats_cb": self._on_statistics})
        self.health = Health(settings.stuck_after_seconds)
        self.backoff = Backoff(settings.retry_initial_seconds, settings.retry_max_seconds)
        self.guard = DeadLetterGuard(settings.dead_letter_max_ratio, settings.dead_letter_window)
        self.secrets = settings.secret_names
        self.assigned: set[Partition] = set()
        self.revoked_while_polling: set[Partition] = set()
        self.paused = False
        self.stopping = False

    # --- lifecycle -------------------------------------------------------------------

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if not self.stopping:
            log.info("consumer.stopping", signal=signal.Signals(signum).name if signum else None)
        self.stopping = True

    def run(self) -> int:
        server = None
        if self.settings.metrics_port:
            server = serve(
                self.metrics, self.health, self.settings.metrics_host, self.settings.metrics_port
            )
        self.consumer.subscribe(
            list(self.settings.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info(
            "consumer.started", topics=list(self.settings.topics), group=self.settings.group_id
        )
        try:
            while not self.stopping:
                batch = self._poll_batch()
                if batch:
                    self._handle(batch)
            return EXIT_OK
        except DeadLetterFlood as exc:
            log.error("consumer.dead_letter_flood", reason=str(exc))
            return EXIT_DEAD_LETTER_FLOOD
        except RetriesExhausted as exc:
            log.error("consumer.retries_exhausted", reason=str(exc))
            return EXIT_RETRIES_EXHAUSTED
        except KafkaException as exc:
            log.error("consumer.kafka_fatal", reason=str(exc))
            return EXIT_KAFKA_FATAL
        finally:
            self.consumer.close()
            self.engine.dispose()
            if server is not None:
                server.shutdown()
            log.info("consumer.stopped")

    # --- the loop --------------------------------------------------------------------

    def _handle(self, batch: list[Source]) -> None:
        """Write the batch and commit the transaction, then commit its offsets."""
        started = time.monotonic()
        written = self._write_with_retry(batch)
        if written is None:
            return  # abandoned: its partitions were revoked or the service is stopping
        covered, outcome = written
        self._commit_offsets(covered)
        self._observe(covered, outcome, time.monotonic() - started)

    def _poll_batch(self) -> list[Source]:
        batch: list[Source] = []
        deadline = time.monotonic() + self.settings.batch_max_seconds
        while len(batch) < self.settings.batch_size and not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wanted = self.settings.batch_size - len(batch)
            messages = self.consumer.consume(num_messages=wanted, timeout=min(remaining, 0.5))
            if self.revoked_while_polling:
                # Fetched before a revocation: if the partition comes back, its messages
                # are fetched again from the committed offset, and would be here twice.
                revoked, self.revoked_while_polling = self.revoked_while_polling, set()
                batch = [m for m in batch if (m.topic, m.partition) not in revoked]
            for message in messages:
                error = message.error()
                if error is None:
                    batch.append(source_of(message))
                elif error.fatal():
                    raise KafkaException(error)
                elif error.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka.error", error=str(error))
            self.health.progressed()
        # A revocation during consume() drops messages of partitions no longer ours.
        return [m for m in batch if (m.topic, m.partition) in self.assigned]

    def _write_with_retry(self, batch: list[Source]) -> tuple[list[Source], BatchOutcome] | None:
        attempt = 0
        while True:
            live = [m for m in batch if (m.topic, m.partition) in self.assigned]
            if not live or (attempt and self.stopping):
                if batch:
                    log.info("batch.abandoned", messages=len(batch), reason="revoked or stopping")
                return None
            try:
                outcome = self._write(live)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                self._wait_before_retry(attempt, exc)
                continue
            self.health.database_failed(None)
            return live, outcome

    def _write(self, sources: Sequence[Source]) -> BatchOutcome:
        """One transaction: apply the batch, record its dead letters, commit."""
        with self.engine.begin() as connection:
            now = datetime.now(UTC).replace(tzinfo=None)
            outcome = process_batch(connection, sources, now, self.secrets)
            self.guard.check(outcome, len(sources))
        self.guard.record(outcome, len(sources))
        return outcome

    def _commit_offsets(self, messages: Sequence[Source]) -> None:
        next_offsets: dict[Partition, int] = {}
        for message in messages:
            key = (message.topic, message.partition)
            next_offsets[key] = max(next_offsets.get(key, 0), message.offset + 1)
        owned = [
            TopicPartition(t, p, o) for (t, p), o in next_offsets.items() if (t, p) in self.assigned
        ]
        if not owned:
            return
        try:
            self.consumer.commit(offsets=owned, asynchronous=False)
        except KafkaException as exc:
            # The rows are committed; the messages will be re-read and absorbed.
            log.warning("offsets.commit_failed", error=str(exc))
            return
        for tp in owned:
            self.metrics.committed_offset.labels(tp.topic, str(tp.partition)).set(tp.offset)

    def _wait_before_retry(self, attempt: int, exc: BaseException) -> None:
        limit = self.settings.retry_max_attempts
        cause = type(getattr(exc, "orig", None) or exc).__name__
        self.metrics.retries.labels(cause).inc()
        self.health.database_failed(f"{cause}: {str(exc).splitlines()[0][:200]}")
        if limit and attempt > limit:
            raise RetriesExhausted(f"gave up after {limit} retries: {cause}") from exc
        delay = self.backoff.delay(attempt)
        log.warning(
            "batch.retry",
            attempt=attempt,
            cause=cause,
            error=str(exc).splitlines()[0][:300],
            wait_seconds=round(delay, 2),
        )
        self._pause()
        try:
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self.stopping:
                # Polling a paused consumer fetches nothing but keeps it in the group
                # and runs rebalance callbacks.
                self.consumer.poll(min(0.2, max(0.0, deadline - time.monotonic())))
                self.health.progressed()
        finally:
            self._resume()

    # --- partitions ------------------------------------------------------------------

    def _pause(self) -> None:
        self.paused = True
        self.consumer.pause(self.consumer.assignment())

    def _resume(self) -> None:
        self.paused = False
        self.consumer.resume(self.consumer.assignment())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}
        if self.paused:
            consumer.pause(partitions)
        log.info("partitions.assigned", partitions=_names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned -= revoked
        self.revoked_while_polling |= revoked
        log.info("partitions.revoked", partitions=_names(partitions))

    # --- observability ---------------------------------------------------------------

    def _observe(self, messages: Sequence[Source], outcome: BatchOutcome, seconds: float) -> None:
        self.metrics.batch_size.observe(len(messages))
        self.metrics.apply_seconds.observe(seconds)
        self.metrics.events_stale.inc(outcome.stale)
        for event_type, count in outcome.applied_by_type.items():
            self.metrics.events_applied.labels(event_type).inc(count)
        for letter in outcome.dead_letters:
            source = letter.source
            self.metrics.dead_letters.labels(str(letter.error.reason)).inc()
            log.warning(
                "message.dead_lettered",
                topic=source.topic,
                partition=source.partition,
                offset=source.offset,
                reason=str(letter.error.reason),
                detail=letter.error.detail,
            )
        log.info(
            "batch.committed",
            messages=len(messages),
            applied=outcome.applied,
            stale=outcome.stale,
            dead_lettered=len(outcome.dead_letters),
            seconds=round(seconds, 4),
        )

    def _on_statistics(self, document: str) -> None:
        """Record the lag librdkafka computes for each assigned partition."""
        for topic, details in json.loads(document).get("topics", {}).items():
            for partition, figures in details.get("partitions", {}).items():
                if partition == "-1" or (topic, int(partition)) not in self.assigned:
                    continue
                lag = figures.get("consumer_lag", -1)
                if lag < 0 and figures.get("hi_offset", -1) >= 0:
                    # Nothing committed yet: everything the partition holds is still to do.
                    lag = figures["hi_offset"] - max(0, figures.get("lo_offset", 0))
                if lag >= 0:
                    self.metrics.lag.labels(topic, partition).set(lag)


def source_of(message: Message) -> Source:
    """The coordinates, key and value of a consumed (non-error) message."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    return Source(topic, partition, offset, message.key(), message.value())


def _names(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]


def run(settings: ConsumerSettings) -> int:
    """Run the service until SIGTERM/SIGINT (exit 0) or a stop condition (non-zero)."""
    service = Service(settings)
    freeze_startup_objects()
    signal.signal(signal.SIGTERM, service.stop)
    signal.signal(signal.SIGINT, service.stop)
    return service.run()
