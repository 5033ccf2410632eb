"""librdkafka's own log lines reach the service's log as structured events, rate-limited,
naming the bootstrap servers that fail: nothing else writes to the stream."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import sqlalchemy as sa

from analytics.logs import KAFKA_LOG_BURST
from tests.consumer.harness import ConsumerProcess, wait_until
from tests.consumer.proxy import free_port

RUN_SECONDS = 4


def test_a_dead_broker_is_logged_as_a_few_structured_lines_naming_it(
    mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    # Nothing listens there: librdkafka retries the connection about twenty times a second.
    dead = f"127.0.0.1:{free_port()}"
    consumer = ConsumerProcess(dead, mysql_url, tmp_path / "consumer.log")
    try:
        wait_until(lambda: consumer.count("consumer.started") == 1, 30, consumer.logs)
        time.sleep(RUN_SECONDS)
        consumer.send(signal.SIGTERM)
        assert consumer.wait() == 0
    finally:
        if consumer.alive():
            consumer.kill()
    # Every line is a JSON event (log_events fails on any other line).
    events = consumer.log_events()
    failures = [e for e in events if e["event"] == "kafka.log" and e["facility"] == "FAIL"]
    assert failures, consumer.logs()[-2000:]
    assert all(e["bootstrap_servers"] == dead for e in failures)
    assert all(f"{dead}/bootstrap" in e["message"] for e in failures)
    assert all(e["level"] == "error" for e in failures)
    # Rate-limited: the first few of some eighty attempts, not all of them.
    assert len(failures) <= KAFKA_LOG_BURST
