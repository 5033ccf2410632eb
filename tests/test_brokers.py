"""Whether Kafka answers: the bounded check of the commands, and the consumer's view."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from confluent_kafka import KafkaError
from structlog.testing import capture_logs

from analytics.broker import EmbeddedBroker
from analytics.brokers import BrokerUnreachable, Reachability, check_reachable
from tests.consumer.proxy import free_port

SERVERS = "k1:9092,k2:9092"


@pytest.fixture(autouse=True)
def default_structlog() -> Iterator[None]:
    """Other tests configure structlog (the demo filters below ERROR); these need its defaults."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def test_the_check_returns_at_once_when_a_broker_answers() -> None:
    with EmbeddedBroker(partitions=1) as broker:
        started = time.monotonic()
        check_reachable(broker.bootstrap_servers, timeout=5)
        assert time.monotonic() - started < 1


def test_the_check_gives_up_after_its_timeout_naming_servers_and_reason() -> None:
    dead = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as raised:
        check_reachable(dead, timeout=2)
    assert 2 <= time.monotonic() - started < 4
    assert raised.value.bootstrap_servers == dead
    message = str(raised.value)
    assert message.startswith(f"Kafka unreachable: no broker of {dead} answered within 2s (")
    assert f"{dead}/bootstrap: Connect to ipv4#{dead} failed: Connection refused" in message


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def statistics(*states: tuple[str, str]) -> dict[str, Any]:
    """librdkafka's statistics document, reduced to its brokers: (source, state) each."""
    return {
        "brokers": {
            f"broker-{n}": {"source": source, "state": state}
            for n, (source, state) in enumerate(states)
        }
    }


REFUSED = KafkaError(KafkaError._TRANSPORT, "k1:9092/bootstrap: Connect failed: Connection refused")
ALL_DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "2/2 brokers are down")


def test_unknown_at_start_is_not_reachable_but_not_reported_as_down() -> None:
    kafka = Reachability(SERVERS)
    with capture_logs() as logs:
        kafka.on_statistics(statistics(("configured", "CONNECT"), ("logical", "INIT")))
    assert not kafka.reachable
    assert (
        kafka.problem()
        == f"Kafka unreachable: no broker of {SERVERS} answers (none has answered yet)"
    )
    assert logs == []


def test_a_failed_connection_is_logged_once_with_its_reason_until_a_broker_answers() -> None:
    clock = Clock()
    kafka = Reachability(SERVERS, clock)
    kafka.on_statistics(statistics(("learned", "UP")))
    assert kafka.problem() is None
    with capture_logs() as logs:
        kafka.on_error(REFUSED)
        kafka.on_error(ALL_DOWN)
        kafka.on_error(REFUSED)
        kafka.on_statistics(statistics(("learned", "TRY_CONNECT")))
        clock.now += 42
        kafka.on_statistics(statistics(("learned", "UP"), ("logical", "UP")))
    assert logs == [
        {
            "event": "kafka.unreachable",
            "log_level": "error",
            "bootstrap_servers": SERVERS,
            "error": REFUSED.str(),
        },
        {
            "event": "kafka.reachable",
            "log_level": "info",
            "bootstrap_servers": SERVERS,
            "down_seconds": 42.0,
        },
    ]
    assert kafka.brokers_up == 1


def test_statistics_without_a_connected_broker_after_an_error_mean_down() -> None:
    kafka = Reachability(SERVERS)
    kafka.on_statistics(statistics(("learned", "UP"), ("learned", "UP")))
    assert kafka.brokers_up == 2
    kafka.on_error(REFUSED)  # one broker of two: not yet all down
    kafka.on_statistics(statistics(("learned", "UP"), ("learned", "CONNECT")))
    assert kafka.brokers_up == 1
    with capture_logs() as logs:
        kafka.on_error(REFUSED)  # the other one
        # The coordinator is a logical broker mirroring a real connection: not counted.
        kafka.on_statistics(statistics(("learned", "DOWN"), ("logical", "UP")))
    assert not kafka.reachable
    assert [entry["event"] for entry in logs] == ["kafka.unreachable"]
    assert kafka.problem() == f"Kafka unreachable: no broker of {SERVERS} answers ({REFUSED.str()})"


def test_errors_that_say_nothing_about_connections_are_ignored() -> None:
    kafka = Reachability(SERVERS)
    kafka.on_statistics(statistics(("learned", "UP")))
    with capture_logs() as logs:
        assert not kafka.on_error(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"))
        kafka.on_statistics(statistics(("learned", "UP")))
    assert logs == []
    assert kafka.last_error is None
    assert kafka.on_error(REFUSED)
