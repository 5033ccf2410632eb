"""/health's verdict, and what it names, as the service and Prometheus see it."""

from __future__ import annotations

import time

from prometheus_client import generate_latest

from analytics.metrics import Health, Metrics


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
