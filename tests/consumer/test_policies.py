"""The consumer's policies as plain data: backoff, the dead-letter guard, Kafka settings."""

from __future__ import annotations

import pytest

from analytics.consumer import Backoff, DeadLetterFlood, DeadLetterGuard, kafka_config
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
