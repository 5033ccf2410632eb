"""librdkafka's log lines through structlog: parsed, levelled and rate-limited."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from analytics.logs import KAFKA_LOG_BURST, KAFKA_LOG_PERIOD_SECONDS, configure, kafka_logger


@pytest.fixture(autouse=True)
def default_structlog() -> Iterator[None]:
    """Other tests configure structlog (the demo filters below ERROR); these need its defaults."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(logger: logging.Logger, text: str = "b1:9092/bootstrap: Connect failed") -> None:
    """What confluent-kafka hands the logger for one librdkafka line."""
    logger.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", f"[thrd:x]: {text}")


def test_each_line_is_one_event_with_facility_client_and_message() -> None:
    with structlog.testing.capture_logs() as captured:
        logger = kafka_logger("b1:9092,b2:9092")
        fail(logger)
        logger.log(logging.INFO, "%s [%s] %s", "REBALANCE", "rdkafka#consumer-1", "[thrd:y]: ok")
    assert captured == [
        {
            "event": "kafka.log",
            "log_level": "error",
            "facility": "FAIL",
            "client": "rdkafka#consumer-1",
            "message": "[thrd:x]: b1:9092/bootstrap: Connect failed",
            "bootstrap_servers": "b1:9092,b2:9092",
        },
        {
            "event": "kafka.log",
            "log_level": "info",
            "facility": "REBALANCE",
            "client": "rdkafka#consumer-1",
            "message": "[thrd:y]: ok",
            "bootstrap_servers": "b1:9092,b2:9092",
        },
    ]


def test_a_flood_is_cut_to_a_burst_per_period_and_facility_and_the_rest_counted() -> None:
    clock = Clock()
    with structlog.testing.capture_logs() as captured:
        logger = kafka_logger("b1:9092", clock=clock)
        for _ in range(100):
            fail(logger)
            clock.now += 0.05
        logger.log(logging.WARNING, "%s [%s] %s", "MAXPOLL", "c", "other facility passes")
        clock.now += KAFKA_LOG_PERIOD_SECONDS
        fail(logger, "next period")
    fails = [e for e in captured if e["facility"] == "FAIL"]
    assert len(fails) == KAFKA_LOG_BURST + 1
    assert "suppressed" not in fails[0]
    last = fails[-1]
    assert last["message"].endswith("next period")
    # 100 lines within 5 s: the burst was logged, the rest only counted.
    assert last["suppressed"] == 100 - KAFKA_LOG_BURST
    assert [e["facility"] for e in captured].count("MAXPOLL") == 1


def test_a_line_in_another_shape_is_logged_whole() -> None:
    with structlog.testing.capture_logs() as captured:
        kafka_logger("b1:9092").warning("plain %s", "text")
    assert captured[0]["message"] == "plain text"
    assert captured[0]["facility"] == ""


def test_library_warnings_are_json_lines_too(capsys: pytest.CaptureFixture[str]) -> None:
    """SQLAlchemy's pool logs an error when it resets a connection the server killed; it
    must not break the stream of JSON lines."""
    configure("INFO", "json")
    try:
        raise ConnectionError("server closed the connection\nsecond line")
    except ConnectionError:
        logging.getLogger("sqlalchemy.pool.impl.QueuePool").error(
            "Exception during reset or similar", exc_info=True
        )
    lines = capsys.readouterr().err.splitlines()
    (line,) = [json.loads(line) for line in lines]
    assert line["event"] == "library.log"
    assert line["logger"] == "sqlalchemy.pool.impl.QueuePool"
    assert line["message"] == "Exception during reset or similar"
    assert line["error"] == "ConnectionError: server closed the connection"
    assert line["level"] == "error"
