"""Transient faults: the database goes away mid-run and comes back; nothing is lost."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from analytics.broker import EmbeddedBroker
from tests.consumer.harness import (
    ConsumerProcess,
    committed_offsets,
    end_offsets,
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


def proxied_url(mysql_url: str, proxy: Proxy) -> str:
    return make_url(mysql_url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def database_proxy(mysql_url: str) -> Proxy:
    url = make_url(mysql_url)
    return Proxy(url.host or "127.0.0.1", url.port or 3306)


# A short grace, so that the test measures the bound rather than waits out the default.
SHUTDOWN_GRACE_SECONDS = 2
# What the process needs after the grace: leave the group, close the client, exit.
EXIT_SLACK_SECONDS = 4


def test_sigterm_while_the_database_hangs_exits_in_time_and_commits_nothing_of_the_batch(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    records, _ = simulated_stream(1500)
    produce(bootstrap, records)
    with database_proxy(mysql_url) as proxy:
        url = proxied_url(mysql_url, proxy)
        consumer = ConsumerProcess(
            bootstrap,
            url,
            tmp_path / "consumer.log",
            batch_size=50,
            shutdown_grace_seconds=SHUTDOWN_GRACE_SECONDS,
        )
        try:
            wait_for(lambda: consumer.count("batch.committed") >= 1)
            proxy.freeze()
            # Long enough for a batch that was past its database commit to have its offsets
            # committed; the next one now waits on a server that sends nothing.
            time.sleep(2)
            batches = consumer.count("batch.committed")
            before = committed_offsets(bootstrap)
            assert sum(before.values()) < sum(end_offsets(bootstrap).values())
            consumer.send(signal.SIGTERM)
            sent = time.monotonic()
            code = consumer.wait(SHUTDOWN_GRACE_SECONDS + EXIT_SLACK_SECONDS)
            took = time.monotonic() - sent
        finally:
            if consumer.alive():
                consumer.kill()
        assert code == 0
        assert took < SHUTDOWN_GRACE_SECONDS + EXIT_SLACK_SECONDS
        assert consumer.count("batch.abandoned") == 1
        assert consumer.count("batch.committed") == batches
        assert committed_offsets(bootstrap) == before
        proxy.thaw()
        restarted = ConsumerProcess(bootstrap, url, tmp_path / "restarted.log", batch_size=50)
        try:
            wait_caught_up(bootstrap, [restarted])
        finally:
            assert restarted.stop() == 0
    assert table_contents(mysql_only) == reference_contents(bootstrap, mysql_only)


def test_a_hung_database_times_out_is_retried_and_recovers_when_it_answers_again(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    records, _ = simulated_stream(1500)
    produce(bootstrap, records)
    port = free_port()
    with database_proxy(mysql_url) as proxy:
        consumer = ConsumerProcess(
            bootstrap,
            proxied_url(mysql_url, proxy),
            tmp_path / "consumer.log",
            batch_size=50,
            metrics_port=port,
            metrics_host="127.0.0.1",
            database_read_timeout_seconds=2,
            database_connect_timeout_seconds=2,
        )
        try:
            wait_for(lambda: consumer.count("batch.committed") >= 1)
            proxy.freeze()
            frozen = time.monotonic()
            # The write in flight times out after the read timeout; the next attempt's new
            # connection after the connect timeout.
            wait_for(lambda: consumer.count("batch.retry") >= 1, timeout=10)
            first_retry = time.monotonic() - frozen
            wait_for(lambda: consumer.count("batch.retry") >= 3, timeout=20)
            assert health(port) == 503
            assert consumer.alive()
            proxy.thaw()
            wait_caught_up(bootstrap, [consumer])
            assert health(port) == 200
        finally:
            code = consumer.stop()
    assert code == 0
    assert first_retry < 2 + 3
    retries = [e for e in consumer.log_events() if e["event"] == "batch.retry"]
    assert all(e["cause"] == "OperationalError" for e in retries)
    assert any("Lost connection" in e["error"] for e in retries)
    assert table_contents(mysql_only) == reference_contents(bootstrap, mysql_only)
