"""The database goes away again and again while the consumer works: network cuts longer
than max.poll.interval.ms, connections frozen mid-statement (open, but no byte moves), and
the server killing the consumer's connections mid-run. The consumer times out, retries,
stays in its group, and the tables end up exactly right."""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from analytics.broker import EmbeddedBroker
from analytics.db import create_engine
from tests.chaos.common import (
    Report,
    assert_retained,
    by_scale,
    faulty_stream,
    final_verdict,
)
from tests.consumer.harness import (
    ConsumerProcess,
    produce,
    wait_caught_up,
    wait_until,
)
from tests.consumer.proxy import Proxy

SEED = 20251202
EVENTS = by_scale(short=4_000, full=12_000)
CUTS = by_scale(short=2, full=4)
SERVER_KILLS = by_scale(short=2, full=4)
FREEZES = by_scale(short=2, full=4)
BATCH_SIZE = 50
MAX_POLL_INTERVAL_MS = 3000
SETTINGS: dict[str, str | int | float] = {
    "batch_size": BATCH_SIZE,
    "session_timeout_ms": 3000,
    "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
    # Below max.poll.interval.ms: a statement on a frozen connection gives up in time.
    "database_connect_timeout_seconds": 2,
    "database_read_timeout_seconds": 2,
    "database_write_timeout_seconds": 2,
}
# Each cut lasts longer than max.poll.interval.ms: a consumer that stopped polling while
# it retries would be thrown out of its group.
CUT_SECONDS = MAX_POLL_INTERVAL_MS / 1000 + 2
# The client error code in a retry's message, e.g. "(2013, 'Lost connection ...')".
ERROR_CODE = re.compile(r"\((\d{4}),")


def progressed(consumer: ConsumerProcess, batches: int) -> None:
    """Wait until the consumer has committed `batches` more batches."""
    target = consumer.count("batch.committed") + batches
    wait_until(
        lambda: consumer.count("batch.committed") >= target or not consumer.alive(),
        timeout=120,
        describe=lambda: consumer.logs()[-3000:],
    )
    assert consumer.alive(), consumer.logs()[-3000:]


def outage(
    begin: Callable[[], None], end: Callable[[], None], consumer: ConsumerProcess, retries: int
) -> float:
    """An outage from `begin` to `end` lasting CUT_SECONDS, in which the consumer notices
    (it retries `retries` times) and stays in its group; returns how long it lasted."""
    before = consumer.count("batch.retry")
    begin()
    started = time.monotonic()
    try:
        wait_until(
            lambda: consumer.count("batch.retry") >= before + retries or not consumer.alive(),
            timeout=60,
            describe="waiting for the consumer to retry",
        )
        time.sleep(max(0.0, started + CUT_SECONDS - time.monotonic()))
        assert consumer.alive(), consumer.logs()[-3000:]
        assert consumer.count("partitions.revoked") == 0, "left its group during the outage"
    finally:
        end()
    return time.monotonic() - started


def cut(proxy: Proxy, consumer: ConsumerProcess) -> float:
    """Connections refused and closed; the outage outlasts max.poll.interval.ms."""
    return outage(proxy.cut, proxy.restore, consumer, retries=2)


def freeze(proxy: Proxy, consumer: ConsumerProcess) -> float:
    """Connections open but silent: the consumer must time out to notice."""
    return outage(proxy.freeze, proxy.thaw, consumer, retries=1)


def kill_server_connections(admin: sa.Engine, database: str) -> int:
    """KILL every server connection to the test database, as a server restart would."""
    with admin.connect() as connection:
        ids = connection.execute(
            sa.text(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = :database AND id <> CONNECTION_ID()"
            ),
            {"database": database},
        ).scalars()
        killed = 0
        for connection_id in list(ids):
            # A connection may close by itself between the SELECT and the KILL.
            with contextlib.suppress(sa.exc.OperationalError):
                connection.exec_driver_sql(f"KILL {int(connection_id)}")
                killed += 1
    return killed


def test_database_outages_and_killed_connections_lose_nothing(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    report = Report("database")
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(EVENTS, SEED, duplicates=0.05, stale=0.05, poison=0.01)
    produce(bootstrap, stream.records)
    assert_retained(bootstrap)
    rng = random.Random(SEED)
    disruptions = ["cut"] * CUTS + ["kill"] * SERVER_KILLS + ["freeze"] * FREEZES
    rng.shuffle(disruptions)
    url = make_url(mysql_url)
    database = url.database
    assert database
    admin = create_engine(url.set(database=""), poolclass=NullPool)
    # Only the consumer is connected to the test database while it runs.
    mysql_only.dispose()
    outages: list[float] = []
    frozen: list[float] = []
    killed: list[int] = []
    with Proxy(url.host or "127.0.0.1", url.port or 3306) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        consumer = ConsumerProcess(bootstrap, proxied, tmp_path / "consumer.log", **SETTINGS)
        try:
            for disruption in disruptions:
                progressed(consumer, rng.randint(1, 4))
                if disruption == "cut":
                    outages.append(round(cut(proxy, consumer), 1))
                elif disruption == "freeze":
                    # Mid-statement, often: the proxy stops forwarding at once.
                    time.sleep(rng.uniform(0, 0.1))
                    frozen.append(round(freeze(proxy, consumer), 1))
                else:
                    # A random moment: often the consumer is inside a transaction.
                    time.sleep(rng.uniform(0, 0.1))
                    killed.append(kill_server_connections(admin, database))
                    assert killed[-1] > 0, "the consumer held no connection to kill"
            wait_caught_up(bootstrap, [consumer], timeout=300)
            # (Stopping revokes the partitions; until then none may have been revoked.)
            assert consumer.count("partitions.revoked") == 0, "the consumer left its group"
        finally:
            code = consumer.stop()
            admin.dispose()
    assert code == 0, consumer.logs()[-3000:]
    retries = [line for line in consumer.log_events() if line["event"] == "batch.retry"]
    errors = Counter(
        found.group(1) if (found := ERROR_CODE.search(line["error"])) else line["cause"]
        for line in retries
    )

    verdict = final_verdict(bootstrap, mysql_only, stream)
    report.add(
        runs=1,
        outages=len(outages),
        outage_seconds=outages,
        freezes=len(frozen),
        freeze_seconds=frozen,
        server_kills=len(killed),
        connections_killed=killed,
        retries=len(retries),
        retry_errors=dict(sorted(errors.items())),
        revocations=0,
        events=stream.events,
        injected_duplicates=stream.duplicates,
        injected_stale=stream.stale,
        seed=SEED,
        **verdict.figures(),
    )
    report.write(mysql_only)
    verdict.check()
