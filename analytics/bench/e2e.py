"""End to end: simulated events → embedded broker → the real consumer process → the database.

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
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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

GROUP_ID = "analytics-bench"
MIN_AHEAD_BYTES = 8 * 1024 * 1024
STALL_SECONDS = 120.0
STOP_SECONDS = 60.0
_POLL_SECONDS = 0.02
_RSS_SAMPLE_SECONDS = 0.25


@dataclass(frozen=True)
class Batch:
    """One `batch.committed` line of the consumer's log."""

    at: datetime
    messages: int
    applied: int
    stale: int
    dead_lettered: int
    seconds: float


@dataclass(frozen=True)
class RssSample:
    committed: int
    rss_mb: float


@dataclass
class E2EResult:
    events: int
    batch_size: int
    partitions: int
    first_poll: datetime
    batches: list[Batch]
    peak_rss_mb: float
    rss_samples: list[RssSample]
    exit_code: int
    log_path: Path
    min_backlog: int | None  # fewest messages waiting while the producer had more to send

    @property
    def timed_batches(self) -> list[Batch]:
        """The batches of the timed window: all but a final partial batch, which waited
        `batch_max_seconds` for messages that were never coming (the stream had ended)."""
        last = self.batches[-1]
        if len(self.batches) > 1 and last.messages < self.batch_size:
            return self.batches[:-1]
        return self.batches

    @property
    def timed_events(self) -> int:
        return sum(batch.messages for batch in self.timed_batches)

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
        return sum(batch.messages for batch in timed[1:]) / seconds if seconds > 0 else None

    @property
    def applied(self) -> int:
        return sum(batch.applied for batch in self.batches)

    @property
    def stale(self) -> int:
        return sum(batch.stale for batch in self.batches)

    @property
    def dead_lettered(self) -> int:
        return sum(batch.dead_lettered for batch in self.batches)


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


def _consumer_environment(bootstrap: str, database_url: str, batch_size: int) -> dict[str, str]:
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
            "ANALYTICS_METRICS_PORT": "0",
            "ANALYTICS_LOG_FORMAT": "json",
            "ANALYTICS_LOG_LEVEL": "INFO",
        }
    )
    return environment


class _LogTail:
    """Reads the consumer's JSON log as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.assigned: list[datetime] = []
        self.batches: list[Batch] = []
        self.committed = 0

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
        name = entry.get("event")
        if name == "partitions.assigned":
            self.assigned.append(datetime.fromisoformat(entry["timestamp"]))
        elif name == "batch.committed":
            batch = Batch(
                at=datetime.fromisoformat(entry["timestamp"]),
                messages=int(entry["messages"]),
                applied=int(entry["applied"]),
                stale=int(entry["stale"]),
                dead_lettered=int(entry["dead_lettered"]),
                seconds=float(entry["seconds"]),
            )
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


def run(
    messages: Iterator[SpooledMessage],
    count: int,
    average_size: float,
    batch_size: int,
    database_url: str,
    log_path: Path,
    partitions: int,
    on_progress: Callable[[int], None] = lambda _done: None,
) -> E2EResult:
    """Stream `count` messages through a fresh broker into one consumer process."""
    with EmbeddedBroker(partitions=partitions, rebalance_delay_ms=0) as broker:
        bootstrap = broker.bootstrap_servers
        feeder = _Feeder(bootstrap, messages, ahead_bytes(batch_size, average_size), average_size)
        feeder.prime()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "analytics", "consume"],
                env=_consumer_environment(bootstrap, database_url, batch_size),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        feeder.start()
        tail = _LogTail(log_path)
        try:
            watched = _watch(process, tail, feeder, count, bootstrap, partitions, on_progress)
            watched.sample(tail.committed, force=True)
            process.send_signal(signal.SIGTERM)
            reaped = _reap(process, STOP_SECONDS)
            if reaped is None:
                process.kill()
                reaped = _reap(process, STOP_SECONDS)
                raise BenchError(f"the consumer did not stop on SIGTERM:\n{tail.tail()}")
        except BaseException:
            if process.returncode is None:
                process.kill()
                _reap(process, STOP_SECONDS)
            raise
        finally:
            feeder.close()
        exit_code = reaped
        tail.read()
        if feeder.error is not None:
            raise BenchError(f"producing to the embedded broker failed: {feeder.error}")
        if exit_code != 0:
            raise BenchError(f"the consumer exited with code {exit_code}:\n{tail.tail()}")
    if not tail.assigned or not tail.batches:
        raise BenchError(f"the consumer's log has no assignment or no batch:\n{tail.tail()}")
    first_batch = tail.batches[0].at
    first_poll = max((at for at in tail.assigned if at <= first_batch), default=tail.assigned[0])
    return E2EResult(
        events=count,
        batch_size=batch_size,
        partitions=partitions,
        first_poll=first_poll,
        batches=tail.batches,
        peak_rss_mb=watched.peak_mb,
        rss_samples=watched.samples,
        exit_code=exit_code,
        log_path=log_path,
        min_backlog=watched.min_backlog,
    )


@dataclass
class _Sampler:
    """The consumer's RSS over time, and the smallest backlog it faced while the producer
    still had messages: if that stays above a batch, the producer never held it back."""

    pid: int
    samples: list[RssSample] = field(default_factory=list)
    peak_mb: float = 0.0
    next_at: float = 0.0
    min_backlog: int | None = None

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
        memory = _memory_mb(self.pid)
        if memory is not None:
            rss, peak = memory
            self.samples.append(RssSample(committed, round(rss, 1)))
            self.peak_mb = max(self.peak_mb, peak)


def _watch(
    process: subprocess.Popen[bytes],
    tail: _LogTail,
    feeder: _Feeder,
    count: int,
    bootstrap: str,
    partitions: int,
    on_progress: Callable[[int], None],
) -> _Sampler:
    """Follow the consumer until it has committed `count` messages."""
    sampler = _Sampler(process.pid)
    progressed = time.monotonic()
    while True:
        tail.read()
        if tail.committed != feeder.committed:
            feeder.committed = tail.committed
            progressed = time.monotonic()
            on_progress(min(tail.committed, count))
            sampler.backlog(feeder, tail.committed)
        sampler.sample(tail.committed)
        if tail.committed >= count:
            break
        if _reap(process, 0) is not None:
            raise BenchError(f"the consumer exited early:\n{tail.tail()}")
        if feeder.error is not None:
            raise BenchError(f"producing to the embedded broker failed: {feeder.error}")
        if time.monotonic() - progressed > STALL_SECONDS:
            lows = _low_watermarks(bootstrap)
            lost = f"; the broker dropped the start of {lows}" if lows else ""
            raise BenchError(
                f"no progress for {STALL_SECONDS:.0f}s at {tail.committed}/{count}"
                f" committed{lost}:\n{tail.tail()}"
            )
        time.sleep(_POLL_SECONDS)
    if tail.committed != count:
        raise BenchError(f"the consumer committed {tail.committed} messages, expected {count}")
    return sampler
