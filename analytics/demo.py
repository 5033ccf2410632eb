"""`analytics demo`: the whole pipeline on one machine with nothing installed.

An embedded broker, a migrated SQLite file, the real consumer in a background thread and a
stream of simulated traffic (with a few duplicates, stale re-sends and poison messages, so
that the guarantees show). Only options given to it explicitly point the same run at other
servers: never the service's environment, which may name production.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analytics import migrate, offsets
from analytics.broker import EmbeddedBroker
from analytics.brokers import check_reachable
from analytics.consumer import Service
from analytics.events import TOPICS
from analytics.settings import ConsumerSettings
from producer_sim import generate, inject_faults, recent_start
from producer_sim.sinks import KafkaSink, Tally

DEFAULT_DEMO_DATABASE = Path("analytics-data") / "demo.db"
CATCH_UP_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class DemoOptions:
    events: int = 3000
    seed: int = 42
    partitions: int = 3
    duplicates: float = 0.02
    stale: float = 0.02
    poison: float = 0.005
    bootstrap_servers: str | None = None  # None: the embedded broker
    database_url: str | None = None  # None: a fresh SQLite file at DEFAULT_DEMO_DATABASE
    start: datetime | None = None  # None: early enough that the last event is in the past


@dataclass(frozen=True)
class Outcome:
    """What the consumer did with the messages, from its own metrics."""

    applied: int
    stale: int
    dead_lettered: int


@dataclass(frozen=True)
class DemoResult:
    database_url: str
    produced: int
    seconds: float
    injected: Tally  # what went out, by origin
    outcome: Outcome


Progress = Callable[[int, int], None]  # (produced so far, applied so far)


def run_demo(options: DemoOptions, progress: Progress = lambda _p, _a: None) -> DemoResult:
    """Raises BrokerUnreachable, before anything is started or written, when the Kafka of
    `options.bootstrap_servers` does not answer."""
    if options.bootstrap_servers is not None:
        check_reachable(options.bootstrap_servers)
    database_url = options.database_url or _fresh_sqlite(DEFAULT_DEMO_DATABASE)
    migrate.upgrade(database_url)
    with ExitStack() as stack:
        bootstrap = options.bootstrap_servers
        if bootstrap is None:
            broker = stack.enter_context(
                EmbeddedBroker(partitions=options.partitions, rebalance_delay_ms=0)
            )
            bootstrap = broker.bootstrap_servers
        settings = ConsumerSettings(
            bootstrap_servers=bootstrap,
            database_url=database_url,
            group_id=f"analytics-demo-{uuid.uuid4().hex[:8]}",
            batch_size=500,
            batch_max_seconds=0.2,
            metrics_port=0,
        )
        started = time.monotonic()
        service = Service(settings)
        consumer = threading.Thread(target=service.run, name="consumer", daemon=True)
        consumer.start()
        try:
            injected = _produce(options, bootstrap, settings, progress)
            _wait_caught_up(bootstrap, settings.group_id, injected.total, progress)
        finally:
            service.stop()
            consumer.join(30)
        seconds = time.monotonic() - started
        return DemoResult(database_url, injected.total, seconds, injected, _outcome(service))


def _outcome(service: Service) -> Outcome:
    registry = service.metrics.registry

    def total(name: str) -> int:
        return int(
            sum(
                sample.value
                for metric in registry.collect()
                for sample in metric.samples
                if sample.name == name
            )
        )

    return Outcome(
        applied=total("analytics_events_applied_total"),
        stale=total("analytics_events_stale_total"),
        dead_lettered=total("analytics_dead_letters_total"),
    )


def _fresh_sqlite(path: Path) -> str:
    """The demo starts from an empty database each time (only its own default file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _produce(
    options: DemoOptions, bootstrap: str, settings: ConsumerSettings, progress: Progress
) -> Tally:
    now = datetime.now(UTC)
    start = options.start or recent_start(now, options.events)
    messages = inject_faults(
        generate(options.seed, options.events, start=start, not_after=now),
        seed=options.seed,
        duplicates=options.duplicates,
        stale=options.stale,
        poison=options.poison,
    )
    tally = Tally()
    with KafkaSink(bootstrap) as sink:
        for message in messages:
            sink.write(message)
            tally.count(message)
            if tally.total % 250 == 0:
                progress(tally.total, _applied(bootstrap, settings.group_id))
    return tally


def _wait_caught_up(bootstrap: str, group_id: str, produced: int, progress: Progress) -> None:
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        ends = offsets.end_offsets(bootstrap, TOPICS)
        committed = offsets.committed_offsets(bootstrap, group_id, TOPICS)
        progress(produced, sum(committed.values()))
        if committed == ends:
            return
        time.sleep(0.25)
    raise TimeoutError(f"the consumer did not catch up within {CATCH_UP_TIMEOUT_SECONDS}s")


def _applied(bootstrap: str, group_id: str) -> int:
    return sum(offsets.committed_offsets(bootstrap, group_id, TOPICS).values())
