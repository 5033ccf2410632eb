"""Kafka that does not answer is visible: /health turns unhealthy and names the bootstrap
servers, the log says which servers fail, and the consumer keeps running so that it
recovers when a broker answers again."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from tests.consumer.harness import (
    ConsumerProcess,
    produce,
    simulated_stream,
    wait_caught_up,
    wait_until,
)
from tests.consumer.proxy import free_port

STUCK_AFTER_SECONDS = 2
BROKER_ID = 1


def health(port: int) -> tuple[int, dict[str, Any]]:
    """Status and body of /health."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start(bootstrap: str, database_url: str, log: Path) -> tuple[ConsumerProcess, int]:
    port = free_port()
    consumer = ConsumerProcess(
        bootstrap,
        database_url,
        log,
        metrics_port=port,
        metrics_host="127.0.0.1",
        stuck_after_seconds=STUCK_AFTER_SECONDS,
    )
    return consumer, port


def events(consumer: ConsumerProcess, name: str) -> list[dict[str, Any]]:
    return [event for event in consumer.log_events() if event["event"] == name]


def test_a_broker_that_never_answers_makes_health_fail_naming_the_servers(
    mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    consumer, port = start(dead, mysql_url, tmp_path / "consumer.log")
    try:
        wait_until(lambda: consumer.count("consumer.started") == 1, 30, consumer.logs)
        # Empty polls without a broker are no progress: unhealthy once stuck_after has passed.
        wait_until(lambda: health(port)[0] == 503, STUCK_AFTER_SECONDS + 8, consumer.logs)
        (problem,) = health(port)[1]["problems"]
        assert "Kafka unreachable" in problem
        assert dead in problem
        assert "Connection refused" in problem
        assert consumer.alive()
        (unreachable,) = events(consumer, "kafka.unreachable")
        assert unreachable["bootstrap_servers"] == dead
        assert unreachable["level"] == "error"
        consumer.send(signal.SIGTERM)
        assert consumer.wait() == 0
    finally:
        if consumer.alive():
            consumer.kill()


def test_health_fails_while_the_broker_is_down_and_recovers_when_it_returns(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    records, _ = simulated_stream(300)
    produce(bootstrap, records)
    consumer, port = start(bootstrap, mysql_url, tmp_path / "consumer.log")
    try:
        wait_caught_up(bootstrap, [consumer])
        assert health(port)[0] == 200
        broker.set_broker_up(BROKER_ID, False)
        try:
            wait_until(lambda: health(port)[0] == 503, STUCK_AFTER_SECONDS + 8, consumer.logs)
            (problem,) = health(port)[1]["problems"]
            assert "Kafka unreachable" in problem
            assert bootstrap in problem
            assert consumer.alive()
        finally:
            broker.set_broker_up(BROKER_ID, True)
        wait_until(lambda: health(port)[0] == 200, 30, consumer.logs)
        # It works again: new messages are applied.
        more, _ = simulated_stream(300, seed=8)
        produce(bootstrap, more)
        wait_caught_up(bootstrap, [consumer])
        assert health(port) == (200, {"healthy": True, "problems": []})
    finally:
        code = consumer.stop()
    assert code == 0
    assert [e["bootstrap_servers"] for e in events(consumer, "kafka.unreachable")] == [bootstrap]
    assert [e["bootstrap_servers"] for e in events(consumer, "kafka.reachable")] == [bootstrap]
