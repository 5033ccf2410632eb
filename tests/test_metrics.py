"""The service's metrics: /health's verdict as Prometheus sees it, and the event-time lag
computed when scraped."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from analytics.metrics import Health, Metrics


def scraped_lag(metrics: Metrics, topic: str) -> float:
    text = generate_latest(metrics.registry).decode()
    found = re.search(rf'^analytics_event_time_lag_seconds{{topic="{topic}"}} (\S+)$', text, re.M)
    assert found, text
    return float(found.group(1))


def test_event_time_lag_is_now_minus_the_newest_applied_event_of_the_topic() -> None:
    metrics = Metrics()
    now = datetime.now(UTC).replace(tzinfo=None)
    metrics.applied_event_time("order", now - timedelta(seconds=90))
    metrics.applied_event_time("order", now - timedelta(hours=2))  # older: not the newest
    assert 90 <= scraped_lag(metrics, "order") < 100
    assert metrics.event_time_lag_seconds("user") is None
    assert 'topic="user"' not in generate_latest(metrics.registry).decode()


def healthy_sample(metrics: Metrics) -> str:
    (line,) = [
        line
        for line in generate_latest(metrics.registry).decode().splitlines()
        if line.startswith("analytics_healthy ")
    ]
    return line


def test_the_healthy_gauge_says_what_health_would_answer_at_scrape_time() -> None:
    metrics, health = Metrics(), Health(stuck_after_seconds=60)
    metrics.watch(health)
    assert healthy_sample(metrics) == "analytics_healthy 1.0"
    health.database_failed("database unreachable: (2013) Lost connection")
    assert healthy_sample(metrics) == "analytics_healthy 0.0"
    health.database_failed(None)
    assert healthy_sample(metrics) == "analytics_healthy 1.0"


def test_no_progress_names_kafka_as_its_cause_while_kafka_is_unreachable() -> None:
    health = Health(stuck_after_seconds=0.01)
    health.kafka_failed("Kafka unreachable: no broker of k:9092 answers (refused)")
    assert health.report() == (True, {"healthy": True, "problems": []})
    time.sleep(0.02)
    assert health.report() == (
        False,
        {
            "healthy": False,
            "problems": [
                "no progress for 0s: Kafka unreachable: no broker of k:9092 answers (refused)"
            ],
        },
    )
    health.kafka_failed(None)
    assert health.report()[1]["problems"] == ["no progress for 0s"]
    health.progressed()
    assert health.report()[0]
