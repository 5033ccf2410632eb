"""End to end: simulated events → embedded broker → the real consumer process(es) → the database.

The consumer is `python -m analytics consume`, exactly what production runs, in a process
of its own: its memory is then its own (its peak is the kernel's high-water mark of its
resident set, VmHWM, read until the run ends), the bench's producer, broker and bookkeeping
do not share its interpreter lock, and it is stopped with SIGTERM as an orchestrator would.
(`wait4`'s ru_maxrss would not do: Linux carries the parent's peak into a child across
fork and exec, so it reports the bench's own memory whenever that is larger.)

The embedded broker keeps only about 5 MB per partition, so the events are streamed while
the consumer runs: a producer thread stays at most `ahead_bytes` beyond what the consumer
has committed (and the topics have 16 partitions each, so that even the busiest partition
holds a small share of that). The consumer's throughput is taken from its own JSON log:
from the `partitions.assigned` line (its first poll that can return messages) to its last
`batch.committed` line (written after the offsets of the batch are committed). A final
partial batch is left out of that window: it only waited for the end of the stream.

Scaled out, several such processes share one consumer group, as production scales the
service: each logs to its own file, the window runs from the earliest assignment before
the first batch of any of them to the last timed commit of any of them, and the work is
the sum of their batches. They start together and normally share the partitions from
the start; one that joins later sets off a rebalance, after which some messages are
applied again: those of a batch whose offsets could not be committed (the next owner of
their partitions reads them again), and those a batch read both before the rebalance and
after it. The logs tell how many messages were applied, not which: the run ends when the
broker's committed offsets for the group cover every message, and the excess is work
done again, which the timed events leave out (each event counts once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from analytics import offsets
from analytics.bench.database import BenchError
from analytics.bench.spool import SpooledMessage
from analytics.broker import EmbeddedBroker
from analytics.events import TOPICS
from analytics.records import BatchCommitted, PartitionsAssigned

GROUP_ID = "analytics-bench"
# Consumers started together: the broker hands out partitions this long after the first
# one joins (Kafka's group.initial.rebalance.delay.ms), so that they share them from the
# start instead of rebalancing as each one joins. A single consumer needs no wait.
GROUP_JOIN_DELAY_MS = 1000
# A consumer joining a running group anyway (it started late) sets off a rebalance, which
# the embedded broker holds for the session timeout less a second: 2 s here (44 s with the
# service's default), time enough for the members busy with a batch to rejoin.
SESSION_TIMEOUT_MS = 3000
MIN_AHEAD_BYTES = 8 * 1024 * 1024
STALL_SECONDS = 120.0
STOP_SECONDS = 60.0
_POLL_SECONDS = 0.02
_RSS_SAMPLE_SECONDS = 0.25
_OFFSETS_CHECK_SECONDS = 0.2


@dataclass(frozen=True)
class Batch:
    """One batch the consumer committed, when its record was logged."""

    at: datetime
    record: BatchCommitted

    @property
    def messages(self) -> int:
        return self.record.messages

    @property
    def applied(self) -> int:
        return self.record.applied

    @property
    def stale(self) -> int:
        return self.record.stale

    @property
    def dead_lettered(self) -> int:
        return self.record.dead_lettered

    @property
    def seconds(self) -> float:
        return self.record.seconds


@dataclass(frozen=True)
class RssSample:
    committed: int
    rss_mb: float  # of all the consumers together


@dataclass
class E2EResult:
    events: int
    batch_size: int
    partitions: int
    first_poll: datetime
    batches_by_consumer: list[list[Batch]]
    peak_rss_mb_by_consumer: list[float]
    rss_samples: list[RssSample]
    log_paths: list[Path]
    min_backlog: int | None  # fewest messages waiting while the producer had more to send

    @property
    def consumers(self) -> int:
        return len(self.log_paths)

    @property
    def log_path(self) -> Path:
        return self.log_paths[0]

    @property
    def batches(self) -> list[Batch]:
        """Every consumer's batches, in commit order."""
        return sorted(
            (batch for batches in self.batches_by_consumer for batch in batches),
            key=lambda batch: batch.at,
        )

    @property
    def peak_rss_mb(self) -> float:
        """The largest consumer's peak."""
        return max(self.peak_rss_mb_by_consumer)

    @property
    def applied_messages(self) -> int:
        """Messages in committed batches, those applied more than once included."""
        return sum(batch.messages for batch in self.batches)

    @property
    def applied_again(self) -> int:
        """The work repeated after rebalances: the group's committed offsets cover each
        of the `events` once (the run waits for that), the batches hold this many more."""
        return self.applied_messages - self.events

    @property
    def timed_batches(self) -> list[Batch]:
        """The batches of the timed window: up to the last commit of any consumer that
        was not its final partial batch, which waited `batch_max_seconds` for messages
        that were never coming (the stream had ended)."""
        end = max(
            _without_final_partial(batches)[-1].at
            for batches in self.batches_by_consumer
            if batches
        )
        return [batch for batch in self.batches if batch.at <= end]

    @property
    def timed_events(self) -> int:
        """Distinct events of the timed window: the messages of its batches less those
        applied again (rebalances happen as consumers join, well inside the window)."""
        return sum(batch.messages for batch in self.timed_batches) - self.applied_again

    @property
    def seconds(self) -> float:
        """First poll to the commit of the last timed batch."""
        return max((self.timed_batches[-1].at - self.first_poll).total_seconds(), 1e-6)

    @property
    def events_per_second(self) -> float:
        return self.timed_events / self.seconds

    @property
    def steady_events_per_second(self) -> float | None:
        """Between the first and the last timed commit: without the consumer's start-up
        (offset lookups, first fetch) and without its first batch."""
        timed = self.timed_batches
        if len(timed) < 2:
            return None
        seconds = (timed[-1].at - timed[0].at).total_seconds()
        return (self.timed_events - timed[0].messages) / seconds if seconds > 0 else None

    @property
    def applied(self) -> int:
        return sum(batch.applied for batch in self.batches)

    @property
    def stale(self) -> int:
        return sum(batch.stale for batch in self.batches)

    @property
    def dead_lettered(self) -> int:
        return sum(batch.dead_lettered for batch in self.batches)


def _without_final_partial(batches: list[Batch]) -> list[Batch]:
    if len(batches) > 1 and batches[-1].messages < batches[-1].record.limit:
        return batches[:-1]
    return batches


def ahead_bytes(batch_size: int, average_size: float) -> int:
    """How far the producer may run ahead of the committed offsets: enough for a few
    batches in flight, far below what the broker keeps per partition."""
    return max(MIN_AHEAD_BYTES, int(3 * batch_size * average_size))


class _Feeder:
    """Produces the spooled messages, holding back while too far ahead of the consumer."""

    def __init__(
        self,
        bootstrap: str,
        messages: Iterator[SpooledMessage],
        ahead_limit: int,
        average_size: float,
    ) -> None:
        self.producer: Any = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 5,
                "client.id": "analytics-bench-producer",
            }
        )
        self.messages = messages
        self.ahead_messages = max(1, int(ahead_limit / max(average_size, 1.0)))
        self.produced = 0
        self.committed = 0  # updated by the monitor from the consumer's log
        self.error: BaseException | None = None
        self.stopping = False
        self.done = False
        self._pending: SpooledMessage | None = None
        self._thread = threading.Thread(target=self._run, name="bench-producer", daemon=True)

    def prime(self) -> None:
        """Fill the topics up to the limit before the consumer starts."""
        self._produce(wait=False)
        self.producer.flush(60)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop producing and release the producer (before the broker goes away)."""
        self.stopping = True
        if self._thread.is_alive():
            self._thread.join(30)
        self.producer = None

    def _run(self) -> None:
        try:
            if self._produce(wait=True):
                remaining = self.producer.flush(60)
                if remaining:
                    raise BenchError(f"{remaining} messages could not be delivered to the broker")
                self.done = True
        except BaseException as exc:
            self.error = exc

    def _produce(self, wait: bool) -> bool:
        """Produce until the messages run out (True), or until the limit is reached
        without `wait`, or the feeder is stopped (False)."""
        while True:
            if self._pending is None:
                self._pending = next(self.messages, None)
                if self._pending is None:
                    return True
            while self.produced - self.committed >= self.ahead_messages:
                if not wait or self.stopping:
                    return False
                self.producer.poll(0.005)
            self._send(self._pending)
            self._pending = None

    def _send(self, message: SpooledMessage) -> None:
        while True:
            try:
                self.producer.produce(message.topic, key=message.key, value=message.value)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.produced += 1
        if self.produced % 500 == 0:
            self.producer.poll(0)


def _consumer_environment(
    bootstrap: str, database_url: str, batch_size: int, fixed_batches: bool
) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("ANALYTICS_")
    }
    environment.update(
        {
            "ANALYTICS_BOOTSTRAP_SERVERS": bootstrap,
            "ANALYTICS_DATABASE_URL": database_url,
            "ANALYTICS_GROUP_ID": GROUP_ID,
            "ANALYTICS_TOPICS": ",".join(TOPICS),
            "ANALYTICS_BATCH_SIZE": str(batch_size),
            "ANALYTICS_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
            "ANALYTICS_METRICS_PORT": "0",
            "ANALYTICS_LOG_FORMAT": "json",
            "ANALYTICS_LOG_LEVEL": "INFO",
        }
    )
    if fixed_batches:
        environment["ANALYTICS_BATCH_TARGET_SECONDS"] = "0"
    return environment


class _LogTail:
    """Reads the consumer's JSON log as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.assigned: list[datetime] = []
        self.batches: list[Batch] = []
        self.committed = 0  # messages of its batches, those applied again included

    def read(self) -> None:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            self._parse(line)

    def _parse(self, line: bytes) -> None:
        if not line.startswith(b"{"):
            return
        try:
            entry: dict[str, Any] = json.loads(line)
        except ValueError:
            return
        assigned = PartitionsAssigned.read(entry)
        if assigned is not None:
            self.assigned.append(assigned[0])
        committed = BatchCommitted.read(entry)
        if committed is not None:
            batch = Batch(*committed)
            self.batches.append(batch)
            self.committed += batch.messages

    def tail(self, characters: int = 3000) -> str:
        return self.path.read_text(errors="replace")[-characters:]


def _memory_mb(pid: int) -> tuple[float, float] | None:
    """(resident set now, its peak so far) of process `pid`, in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (KeyError, ValueError):
        return None


def _reap(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Wait for the consumer to exit: its exit code, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode
        if time.monotonic() >= deadline:
            return None
        time.sleep(_POLL_SECONDS)


def _low_watermarks(bootstrap: str) -> dict[str, int]:
    """Partitions whose oldest messages the broker has already dropped."""
    return {
        f"{topic}[{partition}]": low
        for (topic, partition), (low, _end) in offsets.watermarks(bootstrap, TOPICS).items()
        if low > 0
    }


def _log_paths(log_path: Path, consumers: int) -> list[Path]:
    """`log_path` for one consumer; numbered next to it (`name-1.log`, ...) for several."""
    if consumers == 1:
        return [log_path]
    return [
        log_path.with_name(f"{log_path.stem}-{number}{log_path.suffix}")
        for number in range(1, consumers + 1)
    ]


def _start_consumer(environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "analytics", "consume"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _log_ends(tails: Sequence[_LogTail]) -> str:
    """The end of every consumer's log, for error messages."""
    if len(tails) == 1:
        return tails[0].tail()
    return "\n".join(f"--- {tail.path}\n{tail.tail(2000)}" for tail in tails)


def _stop(processes: Sequence[subprocess.Popen[bytes]], tails: Sequence[_LogTail]) -> None:
    """SIGTERM to every consumer at once, as an orchestrator scaling down would; each must
    exit with 0."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for process, tail in zip(processes, tails, strict=True):
        exit_code = _reap(process, max(0.0, deadline - time.monotonic()))
        if exit_code is None:
            raise BenchError(f"a consumer did not stop on SIGTERM:\n{tail.tail()}")
        if exit_code != 0:
            raise BenchError(f"a consumer exited with code {exit_code}:\n{tail.tail()}")


def _kill(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.returncode is None:
            process.kill()
            _reap(process, STOP_SECONDS)


def _first_poll(tails: Sequence[_LogTail]) -> datetime:
    """The earliest assignment before the first batch of any consumer: from then on the
    group could consume (assignments after it are rebalances as the others join)."""
    first_batch = min(tail.batches[0].at for tail in tails if tail.batches)
    assigned = [at for tail in tails for at in tail.assigned]
    return min((at for at in assigned if at <= first_batch), default=min(assigned))


def run(
    messages: Iterator[SpooledMessage],
    count: int,
    average_size: float,
    batch_size: int,
    database_url: str,
    log_path: Path,
    partitions: int,
    on_progress: Callable[[int], None] = lambda _done: None,
    consumers: int = 1,
    fixed_batches: bool = False,
) -> E2EResult:
    """Stream `count` messages through a fresh broker into `consumers` consumer processes
    of one group; `fixed_batches` turns the batch limit off (every batch may hold
    `batch_size` messages, whatever its write time)."""
    log_paths = _log_paths(log_path, consumers)
    join_delay_ms = GROUP_JOIN_DELAY_MS if consumers > 1 else 0
    with EmbeddedBroker(partitions=partitions, rebalance_delay_ms=join_delay_ms) as broker:
        bootstrap = broker.bootstrap_servers
        # A few batches in flight per consumer.
        ahead_limit = ahead_bytes(batch_size * consumers, average_size)
        feeder = _Feeder(bootstrap, messages, ahead_limit, average_size)
        feeder.prime()
        environment = _consumer_environment(bootstrap, database_url, batch_size, fixed_batches)
        tails = [_LogTail(path) for path in log_paths]
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for path in log_paths:  # one at a time: those started are stopped on error
                processes.append(_start_consumer(environment, path))
            feeder.start()
            watched = _watch(processes, tails, feeder, count, bootstrap, on_progress)
            watched.sample(sum(tail.committed for tail in tails), force=True)
            _stop(processes, tails)
        except BaseException:
            _kill(processes)
            raise
        finally:
            feeder.close()
        for tail in tails:
            tail.read()
        if feeder.error is not None:
            raise BenchError(f"producing to the embedded broker failed: {feeder.error}")
    if not any(tail.assigned for tail in tails) or not any(tail.batches for tail in tails):
        raise BenchError(f"the consumers' logs have no assignment or no batch:\n{_log_ends(tails)}")
    return E2EResult(
        events=count,
        batch_size=batch_size,
        partitions=partitions,
        first_poll=_first_poll(tails),
        batches_by_consumer=[tail.batches for tail in tails],
        peak_rss_mb_by_consumer=watched.peaks_mb,
        rss_samples=watched.samples,
        log_paths=log_paths,
        min_backlog=watched.min_backlog,
    )


@dataclass
class _Sampler:
    """The consumers' RSS over time, and the smallest backlog they faced while the
    producer still had messages: if that stays above a batch, the producer never held
    them back."""

    pids: list[int]
    samples: list[RssSample] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    next_at: float = 0.0
    min_backlog: int | None = None

    def __post_init__(self) -> None:
        self.peaks_mb = [0.0] * len(self.pids)

    def backlog(self, feeder: _Feeder, committed: int) -> None:
        if not feeder.done:
            waiting = feeder.produced - committed
            self.min_backlog = (
                waiting if self.min_backlog is None else min(self.min_backlog, waiting)
            )

    def sample(self, committed: int, force: bool = False) -> None:
        now = time.monotonic()
        if now < self.next_at and not force:
            return
        self.next_at = now + _RSS_SAMPLE_SECONDS
        memories = [_memory_mb(pid) for pid in self.pids]
        for index, memory in enumerate(memories):
            if memory is not None:
                self.peaks_mb[index] = max(self.peaks_mb[index], memory[1])
        present = [memory[0] for memory in memories if memory is not None]
        if present:
            self.samples.append(RssSample(committed, round(sum(present), 1)))


def _group_committed(bootstrap: str) -> int:
    """Messages covered by the group's committed offsets, according to the broker."""
    return sum(offsets.committed_offsets(bootstrap, GROUP_ID, TOPICS).values())


def _watch(
    processes: Sequence[subprocess.Popen[bytes]],
    tails: Sequence[_LogTail],
    feeder: _Feeder,
    count: int,
    bootstrap: str,
    on_progress: Callable[[int], None],
) -> _Sampler:
    """Follow the consumers until the group has committed the offsets of all `count`
    messages. The logs' sum says when to ask the broker: it is never below the committed
    offsets, and above them by the messages applied twice."""
    sampler = _Sampler([process.pid for process in processes])
    progressed = time.monotonic()
    next_check = 0.0
    while True:
        for tail in tails:
            tail.read()
        committed = sum(tail.committed for tail in tails)
        if committed != feeder.committed:
            feeder.committed = committed
            progressed = time.monotonic()
            on_progress(min(committed, count))
            sampler.backlog(feeder, committed)
        sampler.sample(committed)
        if committed >= count and time.monotonic() >= next_check:
            next_check = time.monotonic() + _OFFSETS_CHECK_SECONDS
            in_group = _group_committed(bootstrap)
            if in_group > count:
                raise BenchError(f"the group committed {in_group} messages, expected {count}")
            if in_group == count:
                return sampler
        if any(_reap(process, 0) is not None for process in processes):
            raise BenchError(f"a consumer exited early:\n{_log_ends(tails)}")
        if feeder.error is not None:
            raise BenchError(f"producing to the embedded broker failed: {feeder.error}")
        if time.monotonic() - progressed > STALL_SECONDS:
            lows = _low_watermarks(bootstrap)
            lost = f"; the broker dropped the start of {lows}" if lows else ""
            raise BenchError(
                f"no progress for {STALL_SECONDS:.0f}s at {committed}/{count}"
                f" committed{lost}:\n{_log_ends(tails)}"
            )
        time.sleep(_POLL_SECONDS)
