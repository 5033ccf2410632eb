"""The service: consume the topics and keep the read model current.

The loop, and the order that makes it safe, in one place (`Service._consume_until_stopped`
and `Service._finish`):

1. poll a batch — up to the batch limit or `batch_max_seconds`, whichever comes first —
   and decode it (no database). The limit is `batch_size`, or fewer while batches take
   longer than `batch_target_seconds` to write (`analytics.batch_limit`);
2. write it — apply and dead-letter in ONE database transaction, then commit it;
3. commit the offsets of exactly the messages that transaction covered.

The next batch is polled and decoded while one is written (step 1 of batch N+1 overlaps
step 2 of batch N, and the database client leaves the interpreter to the main thread while
it waits for the server); batch N+1's write starts only after batch N's step 3.

Offsets are never committed automatically, so a crash at any point re-reads from the last
committed offset; replayed messages are absorbed by the idempotent apply. Transient
database errors are retried with capped exponential backoff and jitter while the consumer
keeps polling (with its partitions paused) so that it stays in its group.

Step 2 runs on a daemon thread while the main thread waits for it: a signal handler only
runs on the main thread between Python instructions, never while it is blocked in the
database client, so a hung server would otherwise keep the service from honouring SIGTERM.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import FrameType
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from analytics.batch_limit import BatchLimit
from analytics.brokers import Reachability
from analytics.db import Problem, Timeouts, create_engine, permanent_problem, server_message
from analytics.deadletters import Source
from analytics.logs import kafka_logger
from analytics.metrics import Health, Metrics, serve
from analytics.pipeline import (
    BatchOutcome,
    DecodedBatch,
    decode_batch,
    tune_garbage_collector,
    write_batch,
)
from analytics.preflight import DatabaseUnusable, check_database, describe
from analytics.records import BatchCommitted, PartitionsAssigned
from analytics.settings import ConsumerSettings

log = structlog.get_logger("analytics.consumer")

EXIT_OK = 0
EXIT_DEAD_LETTER_FLOOD = 3
EXIT_RETRIES_EXHAUSTED = 4
EXIT_KAFKA_FATAL = 5
EXIT_DATABASE_UNUSABLE = 6
EXIT_DATABASE_UNREACHABLE = 7
# Not the service's (it waits for Kafka, see `Reachability`): commands that need a broker
# to do their job (`simulate`, `demo`) exit so when none answers.
EXIT_KAFKA_UNREACHABLE = 8

# A healthy join takes a few seconds (Kafka's group.initial.rebalance.delay.ms is 3 s);
# a longer wait for partitions is explained in the log, then again every so often.
WAITING_LOG_AFTER_SECONDS = 5.0
WAITING_LOG_EVERY_SECONDS = 30.0

Partition = tuple[str, int]

# A write running longer than this keeps the consumer polling (paused) until it ends.
KEEP_POLLING_AFTER_SECONDS = 0.5
# While a batch is written, the next one is polled in waits this short, so that the
# written batch's offsets are committed soon after its transaction.
WRITE_WATCH_SECONDS = 0.02
T = TypeVar("T")


@dataclass(frozen=True)
class _Writing:
    """A batch whose first write attempt is running on its own thread."""

    decoded: DecodedBatch
    started: float  # time.monotonic() when its write was started
    first_attempt: futures.Future[BatchOutcome]
    limit: int  # the batch limit it was polled under


class DeadLetterFlood(Exception):
    """Nearly every recent message failed: a bad deploy or a wrong topic, not bad data."""


class RetriesExhausted(Exception):
    pass


class Abandoned(Exception):
    """The service was asked to stop and the work in progress outlived the shutdown grace."""


def kafka_config(settings: ConsumerSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": settings.group_id,
        "auto.offset.reset": "earliest",
        # Offsets move only when this code commits them, after the database commit.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "session.timeout.ms": settings.session_timeout_ms,
        # Members learn of a rebalance from a heartbeat's answer, so the interval bounds
        # how long every rebalance waits for them: librdkafka's 3 s, or a third of a
        # shorter session (several heartbeats per session, as Kafka recommends).
        "heartbeat.interval.ms": max(100, min(3000, settings.session_timeout_ms // 3)),
        "max.poll.interval.ms": settings.max_poll_interval_ms,
        "client.id": "social-analytics",
        # librdkafka's statistics carry each partition's consumer lag (see _on_statistics)
        # and the state of each broker connection (see Reachability).
        "statistics.interval.ms": 1000,
    }
    if settings.group_instance_id:
        # Static membership: a restart within the session timeout gets the same
        # partitions back without a rebalance; close() then does not leave the group.
        config["group.instance.id"] = settings.group_instance_id
    return config


def is_transient(exc: BaseException) -> bool:
    """Database trouble that a retry can fix; everything else is a bug and stops the service.

    Data errors never get here: `apply` turns them into dead letters. Permanent errors
    (`analytics.db.permanent_problem`) are database errors too, retried only briefly.
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
        self.health = Health(settings.stuck_after_seconds)
        self.metrics.watch(self.health)
        self.kafka = Reachability(settings.bootstrap_servers)
        self.engine = create_engine(settings.database_url, timeouts=database_timeouts(settings))
        self.consumer = consumer_factory(
            kafka_config(settings)
            | {
                "stats_cb": self._on_statistics,
                "error_cb": self._on_error,
                "logger": kafka_logger(settings.bootstrap_servers),
            }
        )
        self.backoff = Backoff(settings.retry_initial_seconds, settings.retry_max_seconds)
        self.guard = DeadLetterGuard(settings.dead_letter_max_ratio, settings.dead_letter_window)
        self.batch_limit = BatchLimit(settings.batch_size, settings.batch_target_seconds)
        self.metrics.batch_limit.set(self.batch_limit.size)
        self.secrets = settings.secret_names
        self.assigned: set[Partition] = set()
        self.revoked_while_polling: set[Partition] = set()
        # The write attempt running now, and the batch it writes.
        self.in_flight: tuple[DecodedBatch, futures.Future[BatchOutcome]] | None = None
        # Offsets after written batches that the broker refused (a group rebalancing):
        # committed if their partitions come back in the next assignment.
        self.refused_offsets: dict[Partition, int] = {}
        self.paused = False
        self.stopping = False
        # Since when the group has not answered with an assignment (None: it has), and
        # when that was last logged.
        self.waiting_since: float | None = None
        self.waiting_logged: float | None = None
        self.account: str | None = None  # the database account, learnt by the start checks

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
        try:
            self._check_database()
            self.waiting_since = time.monotonic()
            self.consumer.subscribe(
                list(self.settings.topics),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            log.info(
                "consumer.started", topics=list(self.settings.topics), group=self.settings.group_id
            )
            self._consume_until_stopped()
            return EXIT_OK
        except Abandoned:  # asked to stop while the start checks waited on the database
            return EXIT_OK
        except DatabaseUnusable as exc:
            return self._database_unusable(exc)
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

    def _check_database(self) -> None:
        """The start checks (`analytics.preflight`). Any failure is retried for
        `permanent_error_retry_seconds` (a GRANT, a migration or the server itself may be on
        its way), then raised as DatabaseUnusable."""
        give_up_at = time.monotonic() + self.settings.permanent_error_retry_seconds
        for attempt in itertools.count(1):
            if self.stopping:
                return
            try:
                self.account = self._within_shutdown_grace(partial(check_database, self.engine))
            except DatabaseUnusable as exc:
                failure = exc
            except Exception as exc:
                if not is_transient(exc):
                    raise
                failure = DatabaseUnusable(Problem.UNREACHABLE, server_message(exc))
            else:
                self.health.database_failed(None)
                return
            self.health.database_failed(str(failure))
            if time.monotonic() >= give_up_at:
                raise failure
            delay = min(self.backoff.delay(attempt), give_up_at - time.monotonic())
            log.warning(
                "database.check_failed",
                attempt=attempt,
                problem=str(failure.problem),
                error=failure.detail,
                wait_seconds=round(delay, 2),
            )
            self._sleep(delay)

    def _database_unusable(self, exc: DatabaseUnusable) -> int:
        reason = describe(exc.problem, exc.detail, self.engine.url, self.account)
        if exc.problem is Problem.UNREACHABLE:
            log.error("consumer.database_unreachable", reason=reason)
            return EXIT_DATABASE_UNREACHABLE
        log.error("consumer.database_unusable", reason=reason)
        return EXIT_DATABASE_UNUSABLE

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    # --- the loop --------------------------------------------------------------------

    def _consume_until_stopped(self) -> None:
        """Poll and decode the next batch while the previous one is written.

        Only the polling and decoding overlap: a batch's write starts after the previous
        batch's transaction and then its offsets are committed (`_finish`), so the order
        "write, commit, then commit offsets" holds batch by batch."""
        writing: _Writing | None = None
        while not self.stopping:
            limit = self.batch_limit.size
            batch = self._poll_batch(limit, writing.first_attempt if writing else None)
            decoded = self._decode(batch) if batch else None
            if writing is not None:
                self._finish(writing)
                writing = None
            if decoded is not None and not self.stopping:
                # Stopping, the polled batch is left to be read again: its offsets were
                # not committed.
                writing = self._start(decoded, limit)
        if writing is not None:
            self._finish(writing)

    def _decode(self, batch: Sequence[Source]) -> DecodedBatch:
        now = datetime.now(UTC).replace(tzinfo=None)
        latest = now + timedelta(seconds=self.settings.max_future_skew_seconds)
        return decode_batch(batch, latest, self.secrets)

    def _start(self, decoded: DecodedBatch, limit: int) -> _Writing | None:
        """The batch's first write attempt, started on its own thread; None when none of
        its partitions is ours any more (waiting for the previous batch polls, and a
        rebalance may run within that poll)."""
        started = time.monotonic()
        ours = self._still_ours(decoded)
        if ours is None:
            return None
        running = in_daemon_thread(partial(self._write, ours))
        self.in_flight = (ours, running)
        return _Writing(ours, started, running, limit)

    def _finish(self, writing: _Writing) -> None:
        """Wait for the batch's transaction (retrying it as needed), then commit its offsets."""
        try:
            written = self._write_with_retry(writing)
        finally:
            self.in_flight = None
        if written is None:
            # Abandoned: its partitions were revoked, or the service is stopping and the
            # transaction did not report its commit. Its offsets stay where they were.
            return
        covered, outcome, attempt_started = written
        self._commit_offsets(covered)
        now = time.monotonic()
        # Retries and their waits say nothing about how long a batch of this size takes.
        self.batch_limit.observe(len(covered), now - attempt_started)
        self._observe(covered, outcome, now - writing.started, writing.limit)

    def _still_ours(self, decoded: DecodedBatch) -> DecodedBatch | None:
        """The batch without the messages of partitions revoked since it was polled (None
        when none is left): a rebalance may run within any poll."""
        live = [m for m in decoded.messages if (m.topic, m.partition) in self.assigned]
        if not live:
            return None
        return decoded if len(live) == len(decoded.messages) else self._decode(live)

    def _poll_batch(
        self, limit: int, written: futures.Future[BatchOutcome] | None = None
    ) -> list[Source]:
        """Up to `limit` messages (the batch limit: `batch_size`, or fewer while writes take
        longer than `batch_target_seconds`), polled for at most `batch_max_seconds`, or
        until `written` (the previous batch's write) is done: its offsets wait for this poll."""
        batch: list[Source] = []
        deadline = time.monotonic() + self.settings.batch_max_seconds
        longest_wait = 0.5 if written is None else WRITE_WATCH_SECONDS
        while len(batch) < limit and not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (written is not None and written.done()):
                break
            wanted = limit - len(batch)
            messages = self.consumer.consume(
                num_messages=wanted, timeout=min(remaining, longest_wait)
            )
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
                    # "1/1 brokers are down" says not which: the servers are named here.
                    log.warning(
                        "kafka.error",
                        error=str(error),
                        bootstrap_servers=self.settings.bootstrap_servers,
                    )
            self._polled(messages)
        # A revocation during consume() drops messages of partitions no longer ours.
        return [m for m in batch if (m.topic, m.partition) in self.assigned]

    def _write_with_retry(
        self, writing: _Writing
    ) -> tuple[Sequence[Source], BatchOutcome, float] | None:
        """The messages written, their outcome and when the successful attempt started;
        None when the batch was abandoned."""
        attempt = 0
        give_up_at = math.inf  # when a run of permanent errors has lasted long enough
        decoded = writing.decoded
        running: futures.Future[BatchOutcome] | None = writing.first_attempt
        attempt_started = writing.started
        while True:
            if running is None:
                ours = self._still_ours(decoded)
                if ours is None or (attempt and self.stopping):
                    log.info(
                        "batch.abandoned",
                        messages=len(decoded.messages),
                        reason="revoked or stopping",
                    )
                    return None
                decoded = ours
                attempt_started = time.monotonic()
                running = in_daemon_thread(partial(self._write, decoded))
                self.in_flight = (decoded, running)
            try:
                outcome = self._wait_within_shutdown_grace(running)
            except Abandoned:
                log.warning(
                    "batch.abandoned",
                    messages=len(decoded.messages),
                    reason="stopping, and the database did not answer within the shutdown grace",
                )
                return None
            except Exception as exc:
                problem = permanent_problem(exc)
                if problem is None and not is_transient(exc):
                    raise
                # Permanent errors stop the service once they have lasted the retry
                # window; any other error ends such a run.
                window = self.settings.permanent_error_retry_seconds
                give_up_at = (
                    math.inf if problem is None else min(give_up_at, time.monotonic() + window)
                )
                attempt += 1
                self._wait_before_retry(attempt, exc, problem, give_up_at)
                running = None
                continue
            self.health.database_failed(None)
            return decoded.messages, outcome, attempt_started

    def _within_shutdown_grace(self, call: Callable[[], T]) -> T:
        """The call's result (or exception), waited for on the main thread; Abandoned when
        the service was asked to stop and the call outlived `shutdown_grace_seconds`."""
        return self._wait_within_shutdown_grace(in_daemon_thread(call))

    def _wait_within_shutdown_grace(self, running: futures.Future[T]) -> T:
        """`_within_shutdown_grace` for a call already running."""
        give_up_at = math.inf
        keep_polling_after = time.monotonic() + KEEP_POLLING_AFTER_SECONDS
        paused_here = False
        try:
            while not futures.wait([running], timeout=0.1).done:
                if self.stopping:
                    give_up_at = min(
                        give_up_at, time.monotonic() + self.settings.shutdown_grace_seconds
                    )
                if time.monotonic() >= give_up_at:
                    raise Abandoned
                if time.monotonic() >= keep_polling_after:
                    # A slow or hung write must not cost the group membership: poll with
                    # the partitions paused (nothing is fetched; rebalances still run).
                    if not self.paused:
                        self._pause()
                        paused_here = True
                    self.consumer.poll(0)
        finally:
            if paused_here:
                self._resume()
        return running.result()

    def _write(self, decoded: DecodedBatch) -> BatchOutcome:
        """One transaction: apply the batch, record its dead letters, commit."""
        total = len(decoded.messages)
        with self.engine.begin() as connection:
            now = datetime.now(UTC).replace(tzinfo=None)
            outcome = write_batch(connection, decoded, now, self.secrets)
            self.guard.check(outcome, total)
        self.guard.record(outcome, total)
        return outcome

    def _commit_offsets(self, messages: Sequence[Source]) -> bool:
        """Commit the offsets after `messages` for the partitions still ours; False when
        the broker refused them (the rows are committed: the messages are read again)."""
        next_offsets: dict[Partition, int] = {}
        for message in messages:
            key = (message.topic, message.partition)
            next_offsets[key] = max(next_offsets.get(key, 0), message.offset + 1)
        return self._commit(next_offsets)

    def _commit(self, next_offsets: Mapping[Partition, int]) -> bool:
        """Commit these next offsets for the partitions still ours; False when none is
        ours or the broker refused them (kept for `_commit_refused_offsets`)."""
        owned = [
            TopicPartition(t, p, o) for (t, p), o in next_offsets.items() if (t, p) in self.assigned
        ]
        if not owned:
            return False
        try:
            self.consumer.commit(offsets=owned, asynchronous=False)
        except KafkaException as exc:
            # The rows are committed; the messages will be re-read and absorbed.
            log.warning("offsets.commit_failed", error=str(exc))
            self.refused_offsets.update(((tp.topic, tp.partition), tp.offset) for tp in owned)
            return False
        for tp in owned:
            self.refused_offsets.pop((tp.topic, tp.partition), None)  # offsets only grow
            self.metrics.committed_offset.labels(tp.topic, str(tp.partition)).set(tp.offset)
        return True

    def _wait_before_retry(
        self, attempt: int, exc: BaseException, problem: Problem | None, give_up_at: float
    ) -> None:
        """Wait out the backoff; raise when the retries are exhausted, or when a permanent
        `problem` has lasted until `give_up_at`."""
        limit = self.settings.retry_max_attempts
        cause = type(getattr(exc, "orig", None) or exc).__name__
        self.metrics.retries.labels(cause).inc()
        self.health.database_failed(f"{problem or Problem.UNREACHABLE}: {server_message(exc)}")
        if limit and attempt > limit:
            raise RetriesExhausted(f"gave up after {limit} retries: {cause}") from exc
        if problem is not None and time.monotonic() >= give_up_at:
            raise DatabaseUnusable(problem, server_message(exc)) from exc
        delay = min(self.backoff.delay(attempt), give_up_at - time.monotonic())
        log.warning(
            "batch.retry",
            attempt=attempt,
            problem=problem,  # None: transient
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
                message = self.consumer.poll(min(0.2, max(0.0, deadline - time.monotonic())))
                self._polled([message] if message is not None else [])
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
        self._commit_refused_offsets(partitions)
        # Even an empty assignment is the group's answer: nothing more to wait for.
        self.waiting_since = self.waiting_logged = None
        self.metrics.assigned_partitions.set(len(self.assigned))
        if self.paused:
            consumer.pause(partitions)
        PartitionsAssigned(_names(partitions)).log(log)

    def _commit_refused_offsets(self, partitions: list[TopicPartition]) -> None:
        """Commit the refused offsets of partitions that came back: read from them again,
        the batches would be applied twice. Safe because an assignment follows the
        revocation of every partition (the eager protocol): nobody read them in between,
        and lost ones (whose next owner may have) have no refused offsets any more."""
        refused, self.refused_offsets = self.refused_offsets, {}
        returned = {(tp.topic, tp.partition) for tp in partitions}
        back = {partition: offset for partition, offset in refused.items() if partition in returned}
        if back and self._commit(back):
            log.info("offsets.committed_on_return", partitions=[f"{t}[{p}]" for t, p in back])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._hand_over({(tp.topic, tp.partition) for tp in partitions})
        self._forget(partitions)

    def _hand_over(self, revoked: set[Partition]) -> None:
        """Before partitions go, let the batch being written finish and commit its offsets
        for them: their next owner then starts after it, instead of writing the same
        entities at the same time (lock waits, deadlocks, work done twice). A write that
        fails or outlives `shutdown_grace_seconds`, or a service that is stopping, leaves
        them to the next owner to read again, as before."""
        if self.in_flight is None or self.stopping:
            return
        decoded, running = self.in_flight
        theirs = [m for m in decoded.messages if (m.topic, m.partition) in revoked]
        if not theirs:
            return
        done, _ = futures.wait([running], timeout=self.settings.shutdown_grace_seconds)
        if not done:
            reason = "its write outlived the shutdown grace"
        elif running.exception() is not None:
            reason = "its write failed"
        elif not self._commit_offsets(theirs):  # while the partitions are still ours
            reason = "the broker refused its offsets"
        else:
            log.info("batch.handed_over", messages=len(theirs))
            return
        log.info("batch.not_handed_over", messages=len(theirs), reason=reason)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions lost with the group's session: their next owner may have read on."""
        for tp in partitions:
            self.refused_offsets.pop((tp.topic, tp.partition), None)
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        """Partitions that are no longer ours."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned -= revoked
        self.revoked_while_polling |= revoked
        if not self.assigned and self.waiting_since is None:
            self.waiting_since = time.monotonic()
        self.metrics.assigned_partitions.set(len(self.assigned))
        for tp in partitions:
            # Its new owner reports them: kept here, they would be counted twice.
            self.metrics.lag.remove(tp.topic, str(tp.partition))
            self.metrics.committed_offset.remove(tp.topic, str(tp.partition))
        log.info("partitions.revoked", partitions=_names(partitions))

    def _polled(self, messages: Sequence[Message]) -> None:
        """After each poll: an empty one counts as progress only while a broker answers."""
        if messages or self.kafka.reachable:
            self.health.progressed()
        if self.waiting_since is not None and self.kafka.reachable:
            self._explain_waiting(self.waiting_since)

    def _explain_waiting(self, since: float) -> None:
        """Log a wait for partitions once it has lasted WAITING_LOG_AFTER_SECONDS, then every
        WAITING_LOG_EVERY_SECONDS: a restart may wait for its group for a while."""
        now = time.monotonic()
        if self.waiting_logged is None:
            due = now - since >= WAITING_LOG_AFTER_SECONDS
        else:
            due = now - self.waiting_logged >= WAITING_LOG_EVERY_SECONDS
        if not due:
            return
        self.waiting_logged = now
        log.warning(
            "partitions.waiting",
            group=self.settings.group_id,
            waited_seconds=round(now - since),
            session_timeout_ms=self.settings.session_timeout_ms,
            reason="the group has not assigned partitions yet: a rebalance waits for every "
            "member to rejoin, and for a member that stopped without leaving the group until "
            "its session times out",
        )

    # --- observability ---------------------------------------------------------------

    def _observe(
        self, messages: Sequence[Source], outcome: BatchOutcome, seconds: float, limit: int
    ) -> None:
        self.metrics.batch_size.observe(len(messages))
        self.metrics.batch_limit.set(self.batch_limit.size)
        self.metrics.apply_seconds.observe(seconds)
        self.metrics.events_stale.inc(outcome.stale)
        for event_type, count in outcome.applied_by_type.items():
            self.metrics.events_applied.labels(event_type).inc(count)
        for topic, stamp in outcome.newest_event_time.items():
            self.metrics.applied_event_time(topic, stamp)
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
        BatchCommitted(
            messages=len(messages),
            applied=outcome.applied,
            stale=outcome.stale,
            dead_lettered=len(outcome.dead_letters),
            seconds=round(seconds, 4),
            limit=limit,
        ).log(log)

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's client-wide errors: a fatal one stops the service (raised out of the
        poll that served it); connection failures say why Kafka is unreachable (twenty
        times a second while it is: `Reachability` logs them once); any other is logged."""
        if error.fatal():
            raise KafkaException(error)
        if not self.kafka.on_error(error):
            log.warning(
                "kafka.error", error=str(error), bootstrap_servers=self.settings.bootstrap_servers
            )
        self._kafka_observed()

    def _kafka_observed(self) -> None:
        self.health.kafka_failed(self.kafka.problem())
        self.metrics.brokers_up.set(self.kafka.brokers_up)

    def _on_statistics(self, document: str) -> None:
        """Record which brokers answer, and the lag librdkafka computes for each assigned
        partition."""
        statistics = json.loads(document)
        self.kafka.on_statistics(statistics)
        self._kafka_observed()
        for topic, details in statistics.get("topics", {}).items():
            for partition, figures in details.get("partitions", {}).items():
                if partition == "-1" or (topic, int(partition)) not in self.assigned:
                    continue
                lag = figures.get("consumer_lag", -1)
                if lag < 0 and figures.get("hi_offset", -1) >= 0:
                    # Nothing committed yet: everything the partition holds is still to do.
                    lag = figures["hi_offset"] - max(0, figures.get("lo_offset", 0))
                if lag >= 0:
                    self.metrics.lag.labels(topic, partition).set(lag)


def database_timeouts(settings: ConsumerSettings) -> Timeouts:
    return Timeouts(
        connect=settings.database_connect_timeout_seconds,
        read=settings.database_read_timeout_seconds,
        write=settings.database_write_timeout_seconds,
    )


def in_daemon_thread(call: Callable[[], T]) -> futures.Future[T]:
    """Run `call` on a thread of its own that, unlike an executor's, never delays the
    process's exit: a call abandoned in a hung database dies with the process."""
    running: futures.Future[T] = futures.Future()

    def run() -> None:
        running.set_running_or_notify_cancel()
        try:
            running.set_result(call())
        except BaseException as exc:
            running.set_exception(exc)

    threading.Thread(target=run, name="batch-write", daemon=True).start()
    return running


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
    tune_garbage_collector()
    signal.signal(signal.SIGTERM, service.stop)
    signal.signal(signal.SIGINT, service.stop)
    return service.run()
