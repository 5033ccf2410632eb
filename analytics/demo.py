"""`analytics demo`: the whole pipeline on one machine with nothing installed.

An embedded broker, a migrated SQLite file, the real consumer in a background thread and a
stream of simulated traffic (with a few duplicates, stale re-sends and poison messages, so
that the guarantees show). Given ANALYTICS_BOOTSTRAP_SERVERS or ANALYTICS_DATABASE_URL, the
same run uses those servers instead.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from analytics import migrate, offsets
from analytics.broker import EmbeddedBroker
from analytics.brokers import check_reachable
from analytics.consumer import Service
from analytics.events import TOPICS
from analytics.settings import ConsumerSettings
from producer_sim import generate, inject_faults
from producer_sim.sinks import KafkaSink

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


@dataclass(frozen=True)
class DemoResult:
    database_url: str
    produced: int
    seconds: float


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
            produced = _produce(options, bootstrap, settings, progress)
            _wait_caught_up(bootstrap, settings.group_id, produced, progress)
        finally:
            service.stop()
            consumer.join(30)
        return DemoResult(database_url, produced, time.monotonic() - started)


def _fresh_sqlite(path: Path) -> str:
    """The demo starts from an empty database each time (only its own default file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _produce(
    options: DemoOptions, bootstrap: str, settings: ConsumerSettings, progress: Progress
) -> int:
    messages = inject_faults(
        generate(options.seed, options.events),
        seed=options.seed,
        duplicates=options.duplicates,
        stale=options.stale,
        poison=options.poison,
    )
    produced = 0
    with KafkaSink(bootstrap) as sink:
        for message in messages:
            sink.write(message)
            produced += 1
            if produced % 250 == 0:
                progress(produced, _applied(bootstrap, settings.group_id))
    return produced


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
