"""The consumer's policies as plain data: backoff, the dead-letter guard, Kafka settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from confluent_kafka import KafkaError, KafkaException
from structlog.testing import capture_logs

from analytics.consumer import Backoff, DeadLetterFlood, DeadLetterGuard, Service, kafka_config
from analytics.deadletters import DeadLetter, Source
from analytics.errors import InvalidEvent, Reason
from analytics.pipeline import BatchOutcome
from analytics.settings import ConsumerSettings


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=8)
    for attempt, ceiling in [(1, 0.5), (2, 1), (3, 2), (4, 4), (5, 8), (9, 8)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1


def outcome(failed: int) -> BatchOutcome:
    letter = DeadLetter(Source("user", 0, 0, None, b"x"), InvalidEvent(Reason.UNDECODABLE, "x"))
    return BatchOutcome(dead_letters=[letter] * failed)


def test_the_guard_trips_only_over_a_full_window_above_the_ratio() -> None:
    guard = DeadLetterGuard(max_ratio=0.5, window=10)
    guard.check(outcome(5), 5)  # 5 of 5 failed, but the window is not full yet
    guard.record(outcome(5), 5)
    guard.record(outcome(0), 5)  # window: 5 failed, then 5 fine
    guard.check(outcome(3), 3)  # last 10: 2 + 0 + 3 = 5 failed, not over half
    with pytest.raises(DeadLetterFlood, match="6 of the last 10"):
        guard.check(outcome(6), 6)  # last 10: 0 + 4 fine + 6 failed
    guard.check(outcome(0), 6)  # a check that raised records nothing


def test_offsets_are_never_committed_automatically() -> None:
    config = kafka_config(ConsumerSettings(session_timeout_ms=6000))
    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False
    assert config["auto.offset.reset"] == "earliest"
    assert config["heartbeat.interval.ms"] == 2000


def test_heartbeats_come_every_3_seconds_or_several_times_per_shorter_session() -> None:
    # A rebalance waits for every member to learn of it from a heartbeat's answer.
    assert kafka_config(ConsumerSettings())["heartbeat.interval.ms"] == 3000
    assert kafka_config(ConsumerSettings(session_timeout_ms=2000))["heartbeat.interval.ms"] == 666


def test_static_membership_reaches_the_kafka_client_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert "group.instance.id" not in kafka_config(ConsumerSettings())
    monkeypatch.setenv("ANALYTICS_GROUP_INSTANCE_ID", "analytics-0")
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    configs: list[dict[str, Any]] = []

    def factory(config: dict[str, Any]) -> Any:
        configs.append(config)
        return object()

    service = Service(ConsumerSettings(), consumer_factory=factory)
    service.engine.dispose()
    (config,) = configs
    assert config["group.instance.id"] == "analytics-0"
    assert config["group.id"] == "mysql-analytics-service"


@pytest.fixture
def default_structlog() -> Iterator[None]:
    """Other tests configure structlog (the demo filters below ERROR); this needs its defaults."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("default_structlog")
def test_a_fatal_client_error_stops_the_service_others_are_noted_or_logged(tmp_path: Path) -> None:
    settings = ConsumerSettings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    service = Service(settings, consumer_factory=lambda _config: object())  # type: ignore[arg-type,return-value]
    service.engine.dispose()
    fenced = KafkaError(KafkaError.FENCED_INSTANCE_ID, "fenced by another instance", fatal=True)
    with pytest.raises(KafkaException, match="fenced by another instance"):
        service._on_error(fenced)
    with capture_logs() as logs:
        service._on_error(KafkaError(KafkaError._TRANSPORT, "b:9092/1: Connection refused"))
        service._on_error(KafkaError(KafkaError._MAX_POLL_EXCEEDED, "poll interval exceeded"))
    assert service.kafka.last_error == "b:9092/1: Connection refused"
    # A connection error is noted for the kafka.unreachable line (logged when all brokers
    # are down); another error is logged.
    assert [entry["event"] for entry in logs] == ["kafka.error"]
    assert "poll interval exceeded" in logs[0]["error"]
