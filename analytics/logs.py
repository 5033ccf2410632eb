"""structlog set-up: JSON lines for machines, readable lines in a terminal; and the bridge
that brings librdkafka's own lines into the same stream.

Log events carry topic, partition, offset and event_id where they concern a message, and
never a payload: messages can hold secrets, and reasons are written without values.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from logging import Logger
from typing import Literal

import structlog


def configure(level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries' own warnings (SQLAlchemy's pool, for one, when it resets a connection the
    # server killed) join the same stream instead of writing plain lines to stderr.
    root = logging.getLogger()
    if not any(isinstance(handler, _LibraryLines) for handler in root.handlers):
        root.addHandler(_LibraryLines(logging.WARNING))


class _LibraryLines(logging.Handler):
    """A standard-library log record as a `library.log` event: the logger, its message
    and, for an exception, its type and first line (never a traceback with locals)."""

    def emit(self, record: logging.LogRecord) -> None:
        extra: dict[str, str] = {}
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            first_line = (str(error).splitlines() or [""])[0]
            extra["error"] = f"{type(error).__name__}: {first_line}"[:300]
        structlog.get_logger(record.name).log(
            record.levelno,
            "library.log",
            logger=record.name,
            message=record.getMessage()[:500],
            **extra,
        )


# A broker that is down makes librdkafka retry its connection about twenty times a second,
# logging each failure; a few per minute say all there is to say.
KAFKA_LOG_BURST = 5
KAFKA_LOG_PERIOD_SECONDS = 60.0


def kafka_logger(bootstrap_servers: str, clock: Callable[[], float] = time.monotonic) -> Logger:
    """A logger for a Kafka client's `logger` setting: librdkafka's lines become `kafka.log`
    events (with the bootstrap servers the client was given), at most KAFKA_LOG_BURST per
    facility every KAFKA_LOG_PERIOD_SECONDS; the next line logged says how many were not.

    confluent-kafka hands the lines over from the client's poll calls, on the polling
    thread, instead of librdkafka writing raw lines to stderr between the service's own.
    """
    logger = Logger("analytics.kafka", logging.DEBUG)  # on its own: never propagates
    logger.addHandler(_KafkaLines(bootstrap_servers, clock))
    return logger


class _KafkaLines(logging.Handler):
    def __init__(self, bootstrap_servers: str, clock: Callable[[], float]) -> None:
        super().__init__()
        self.log = structlog.get_logger("analytics.kafka").bind(bootstrap_servers=bootstrap_servers)
        self.clock = clock
        # Per facility: when its period started, lines logged and lines dropped in it.
        self.periods: dict[str, tuple[float, int, int]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        facility, client, message = _parts(record)
        suppressed = self._admit(facility)
        if suppressed is None:
            return
        extra = {"suppressed": suppressed} if suppressed else {}
        self.log.log(
            record.levelno,
            "kafka.log",
            facility=facility,
            client=client,
            message=message,
            **extra,
        )

    def _admit(self, facility: str) -> int | None:
        """None to drop the line; else how many lines of the facility the last period dropped."""
        now = self.clock()
        started, logged, dropped = self.periods.get(facility, (-math.inf, 0, 0))
        if now - started >= KAFKA_LOG_PERIOD_SECONDS:
            self.periods[facility] = (now, 1, 0)
            return dropped
        if logged >= KAFKA_LOG_BURST:
            self.periods[facility] = (started, logged, dropped + 1)
            return None
        self.periods[facility] = (started, logged + 1, dropped)
        return 0


def _parts(record: logging.LogRecord) -> tuple[str, str, str]:
    """Facility, client name and text of a line confluent-kafka logs as
    ("%s [%s] %s", facility, client, text); another shape is kept whole."""
    args = record.args
    if record.msg == "%s [%s] %s" and isinstance(args, tuple) and len(args) == 3:
        facility, client, message = args
        return str(facility), str(client), str(message)
    return "", "", record.getMessage()
