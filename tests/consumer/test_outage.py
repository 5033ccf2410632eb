"""Transient faults: the database goes away mid-run and comes back; nothing is lost."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from analytics.broker import EmbeddedBroker
from tests.consumer.harness import (
    ConsumerProcess,
    produce,
    reference_contents,
    simulated_stream,
    table_contents,
    wait_caught_up,
)
from tests.consumer.proxy import Proxy, free_port


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def wait_for(condition: object, timeout: float = 30) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_database_outage_is_retried_without_loss_or_dead_letters(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    records, _ = simulated_stream(3000)
    produce(broker.bootstrap_servers, records)
    url = make_url(mysql_url)
    with Proxy(url.host or "127.0.0.1", url.port or 3306) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        port = free_port()
        consumer = ConsumerProcess(
            broker.bootstrap_servers,
            proxied,
            tmp_path / "consumer.log",
            batch_size=50,
            metrics_port=port,
            metrics_host="127.0.0.1",
            session_timeout_ms=3000,
            max_poll_interval_ms=3000,
        )
        try:
            wait_for(lambda: any(e["event"] == "batch.committed" for e in consumer.log_events()))
            proxy.cut()
            # Longer than max.poll.interval.ms: a consumer blocked in its retries would be
            # thrown out of the group and lose its partitions.
            time.sleep(7)
            assert sum(e["event"] == "batch.retry" for e in consumer.log_events()) >= 3
            assert health(port) == 503
            assert consumer.alive()
            assert not any(e["event"] == "partitions.revoked" for e in consumer.log_events())
            proxy.restore()
            wait_caught_up(broker.bootstrap_servers, [consumer])
            assert health(port) == 200
        finally:
            assert consumer.stop() == 0
    retries = [e for e in consumer.log_events() if e["event"] == "batch.retry"]
    assert all(e["cause"] == "OperationalError" for e in retries)
    outcome = table_contents(mysql_only)
    assert outcome == reference_contents(broker.bootstrap_servers, mysql_only)
