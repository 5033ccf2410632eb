"""Whether Kafka answers.

The service keeps running while no broker answers (one may come back) and says so: in its
log, and in /health once that has lasted `stuck_after_seconds` (`Reachability`). Commands
that need Kafka to do their job instead fail after a bounded wait, with one line naming
the bootstrap servers (`check_reachable`, `BrokerUnreachable`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

log = structlog.get_logger("analytics.kafka")

# How long a command waits for a broker to answer before giving up: long enough for a
# broker that is restarting, short enough that a wrong address is reported at once.
REACHABLE_TIMEOUT_SECONDS = 8.0

# Errors that say why a broker cannot be reached; librdkafka's text names the broker.
_CONNECTION_ERRORS = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._RESOLVE,
        KafkaError._SSL,
        KafkaError._AUTHENTICATION,
        KafkaError._ALL_BROKERS_DOWN,
    }
)


def unreachable(bootstrap_servers: str, detail: str) -> str:
    return f"Kafka unreachable: no broker of {bootstrap_servers} answers ({detail})"


class BrokerUnreachable(Exception):
    """No broker of the bootstrap servers answered within `seconds`."""

    def __init__(self, bootstrap_servers: str, seconds: float, detail: str) -> None:
        super().__init__(
            f"Kafka unreachable: no broker of {bootstrap_servers} answered within "
            f"{seconds:g}s ({detail})"
        )
        self.bootstrap_servers = bootstrap_servers
        self.detail = detail


def check_reachable(bootstrap_servers: str, timeout: float = REACHABLE_TIMEOUT_SECONDS) -> None:
    """Return once a broker answers a metadata request; raise BrokerUnreachable when none
    has within `timeout` seconds."""
    errors: list[KafkaError] = []
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "error_cb": errors.append,
        # The exception says what failed; librdkafka's own lines would repeat it twenty
        # times a second.
        "logger": _quiet_logger(),
    }
    client = AdminClient(config)
    try:
        client.list_topics(timeout=timeout)
    except KafkaException as exc:
        client.poll(0)  # serves the error callbacks, which say why
        why = [e.str() for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
        detail = why[-1] if why else exc.args[0].str()
        raise BrokerUnreachable(bootstrap_servers, timeout, detail) from None


def _quiet_logger() -> logging.Logger:
    logger = logging.Logger("analytics.kafka.check", logging.CRITICAL)
    logger.addHandler(logging.NullHandler())
    return logger


class Reachability:
    """Whether any broker answers the consumer, from librdkafka's statistics (the state of
    every broker connection, each `statistics.interval.ms`) and its errors (why a
    connection failed, and "all brokers are down" as soon as it happens).

    Unknown until the first statistics: not reachable, but not reported as unreachable
    either unless an error says so.
    """

    def __init__(self, bootstrap_servers: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.clock = clock
        self.brokers_up = 0
        self.last_error: str | None = None
        self.failed_since_up = False  # an error arrived after the last broker answered
        self.down_since: float | None = None  # when it was logged as unreachable

    @property
    def reachable(self) -> bool:
        return self.brokers_up > 0

    def problem(self) -> str | None:
        """What /health says while no broker answers."""
        if self.reachable:
            return None
        return unreachable(self.bootstrap_servers, self.last_error or "none has answered yet")

    def on_error(self, error: KafkaError) -> bool:
        """Take note of a connection error; False for an error of another kind."""
        if error.code() not in _CONNECTION_ERRORS:
            return False
        if error.code() != KafkaError._ALL_BROKERS_DOWN:
            self.last_error = error.str()  # names the broker and the reason
        self.failed_since_up = True
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._set_brokers_up(0)
        return True

    def on_statistics(self, statistics: dict[str, Any]) -> None:
        brokers = statistics.get("brokers", {}).values()
        # "logical" entries (GroupCoordinator) only mirror a real connection.
        self._set_brokers_up(
            sum(b.get("state") == "UP" and b.get("source") != "logical" for b in brokers)
        )

    def _set_brokers_up(self, count: int) -> None:
        self.brokers_up = count
        if count and self.down_since is not None:
            log.info(
                "kafka.reachable",
                bootstrap_servers=self.bootstrap_servers,
                down_seconds=round(self.clock() - self.down_since, 1),
            )
            self.down_since = None
        if count:
            self.failed_since_up = False
        elif self.failed_since_up and self.down_since is None:
            self.down_since = self.clock()
            log.error(
                "kafka.unreachable",
                bootstrap_servers=self.bootstrap_servers,
                error=self.last_error,
            )
