"""The broker goes away while the consumer works — briefly, and for longer than the
session timeout, so that the group forgets the consumer. It may lose its partitions and
rejoin; it must not lose or double-apply anything, and it should survive (if it exits,
it must exit non-zero, and a restart must finish the job)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from tests.chaos.common import (
    Report,
    assert_retained,
    by_scale,
    faulty_stream,
    final_verdict,
)
from tests.consumer.harness import (
    ConsumerProcess,
    committed_offsets,
    end_offsets,
    produce,
    wait_until,
)

SEED = 20251203
EVENTS = by_scale(short=4_000, full=12_000)
SESSION_TIMEOUT_MS = 3000
SETTINGS: dict[str, str | int | float] = {
    "batch_size": 50,
    "session_timeout_ms": SESSION_TIMEOUT_MS,
    "max_poll_interval_ms": 3000,
}
BROKER_ID = 1
# How long each outage lasts, in seconds: short ones the session survives, and long ones
# (beyond the session timeout) after which the consumer has lost its group membership.
LONG = SESSION_TIMEOUT_MS / 1000 + 4
OUTAGES = by_scale(short=[1.5, LONG], full=[1.5, LONG, 2.5, 2 * LONG])


class Service:
    """The consumer process of the moment; replaced when one exits (non-zero only)."""

    def __init__(self, bootstrap: str, database_url: str, logs: Path) -> None:
        self.bootstrap, self.database_url, self.logs = bootstrap, database_url, logs
        self.runs: list[ConsumerProcess] = []
        self.exit_codes: list[int] = []
        self.start()

    @property
    def current(self) -> ConsumerProcess:
        return self.runs[-1]

    def start(self) -> None:
        log = self.logs / f"consumer-{len(self.runs)}.log"
        self.runs.append(ConsumerProcess(self.bootstrap, self.database_url, log, **SETTINGS))

    def restart_if_exited(self) -> None:
        if self.current.alive():
            return
        code = self.current.wait()
        assert code != 0, "the consumer stopped with exit code 0 without being asked to"
        self.exit_codes.append(code)
        self.start()

    def committed_batches(self) -> int:
        return sum(run.count("batch.committed") for run in self.runs)

    def progressed_or_exited(self, target: int) -> bool:
        return self.committed_batches() >= target or not self.current.alive()

    def describe(self) -> str:
        return "\n".join(run.logs()[-2000:] for run in self.runs[-2:])

    def count(self, event: str) -> int:
        return sum(run.count(event) for run in self.runs)


def progress(service: Service, batches: int) -> None:
    """Wait until `batches` more batches are committed, restarting an exited consumer."""
    target = service.committed_batches() + batches
    while True:
        wait_until(lambda: service.progressed_or_exited(target), 180, service.describe)
        if service.committed_batches() >= target:
            return
        service.restart_if_exited()


def caught_up(service: Service, timeout: float) -> None:
    """Until the group has committed every partition's end, restarting an exited consumer."""
    target = end_offsets(service.bootstrap)
    deadline = time.monotonic() + timeout
    while committed_offsets(service.bootstrap) != target:
        assert time.monotonic() < deadline, f"not caught up after {timeout}s\n{service.describe()}"
        service.restart_if_exited()
        time.sleep(0.3)


def test_broker_outages_lose_nothing(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    report = Report("broker")
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(EVENTS, SEED, duplicates=0.05, stale=0.05, poison=0.01)
    produce(bootstrap, stream.records)
    assert_retained(bootstrap)
    rng = random.Random(SEED)
    service = Service(bootstrap, mysql_url, tmp_path)
    outages: list[float] = []
    try:
        for seconds in OUTAGES:
            progress(service, rng.randint(1, 4))
            broker.set_broker_up(BROKER_ID, False)
            started = time.monotonic()
            try:
                time.sleep(seconds)  # the outage itself: its length is the point
            finally:
                broker.set_broker_up(BROKER_ID, True)
            outages.append(round(time.monotonic() - started, 1))
            # Work goes on once the broker is back.
            progress(service, 1)
        caught_up(service, timeout=300)
        revocations = service.count("partitions.revoked")
        assert service.current.alive(), service.describe()
    finally:
        code = service.current.stop()
    assert code == 0, service.describe()

    verdict = final_verdict(bootstrap, mysql_only, stream)
    report.add(
        runs=len(service.runs),
        outages=len(outages),
        outage_seconds=outages,
        session_timeout_seconds=SESSION_TIMEOUT_MS / 1000,
        revocations=revocations,
        offset_commits_failed=service.count("offsets.commit_failed"),
        abnormal_exits=service.exit_codes,
        events=stream.events,
        injected_duplicates=stream.duplicates,
        injected_stale=stream.stale,
        seed=SEED,
        **verdict.figures(),
    )
    report.write(mysql_only)
    verdict.check()
