"""The service's metrics: the event-time lag is computed when scraped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from analytics.metrics import Metrics


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
