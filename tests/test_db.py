"""Connections to a silent server give up after their timeouts (measured, not assumed), and
which server errors are permanent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from analytics import migrate
from analytics.db import (
    Problem,
    Timeouts,
    create_engine,
    is_data_error,
    permanent_problem,
    server_message,
)
from analytics.deadletters import Source
from analytics.pipeline import process_batch
from analytics.secrets import DEFAULT_SECRETS
from tests.conftest import scratch_database
from tests.consumer.proxy import Proxy
from tests.samples import sample_bytes

TIMEOUT = 1
# What a bound may take beyond its setting: the client's own bookkeeping and a loaded host.
SLACK = 1.5


@pytest.fixture
def frozen_engine(mysql_url: str) -> Iterator[tuple[sa.Engine, Proxy]]:
    url = make_url(mysql_url)
    with Proxy(url.host or "127.0.0.1", url.port or 3306) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        timeouts = Timeouts(connect=TIMEOUT, read=TIMEOUT, write=TIMEOUT)
        engine = create_engine(proxied, timeouts=timeouts, poolclass=NullPool)
        yield engine, proxy
        engine.dispose()


def seconds_to_fail(call: object) -> float:
    assert callable(call)
    started = time.monotonic()
    with pytest.raises(sa.exc.OperationalError):
        call()
    return time.monotonic() - started


def test_a_statement_to_a_frozen_server_fails_after_the_read_timeout(
    frozen_engine: tuple[sa.Engine, Proxy],
) -> None:
    engine, proxy = frozen_engine
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        proxy.freeze()
        took = seconds_to_fail(lambda: connection.exec_driver_sql("SELECT 1"))
    assert TIMEOUT <= took < TIMEOUT + SLACK


def test_a_connection_to_a_frozen_server_fails_after_the_connect_timeout(
    frozen_engine: tuple[sa.Engine, Proxy],
) -> None:
    engine, proxy = frozen_engine
    proxy.freeze()
    took = seconds_to_fail(engine.connect)
    assert TIMEOUT <= took < TIMEOUT + SLACK


def test_a_statement_the_server_does_not_take_fails_after_the_write_timeout(
    frozen_engine: tuple[sa.Engine, Proxy],
) -> None:
    engine, proxy = frozen_engine
    # Larger than every socket buffer between the client and the frozen proxy.
    statement = "SELECT '" + "x" * 12_000_000 + "'"
    with engine.connect() as connection:
        proxy.freeze()
        took = seconds_to_fail(lambda: connection.exec_driver_sql(statement))
    assert TIMEOUT <= took < TIMEOUT + SLACK


# --- which errors are permanent -----------------------------------------------------------


def test_an_exhausted_auto_increment_is_a_permanent_error_not_a_dead_letter(
    mysql_url: str,
) -> None:
    """Once product_variants' BIGINT ids run out, even an update of an existing variant
    fails (INSERT ... ON DUPLICATE KEY UPDATE reserves an id): no retry can help."""
    with scratch_database(mysql_url) as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "ALTER TABLE product_variants AUTO_INCREMENT = 9223372036854775807"
                )
            apply_sample(engine, "product.created", offset=0)  # takes the last id
            with pytest.raises(sa.exc.DBAPIError) as raised:
                apply_sample(engine, "product.updated", offset=1)
        finally:
            engine.dispose()
    assert permanent_problem(raised.value) is Problem.OUT_OF_RANGE


def apply_sample(engine: sa.Engine, event_type: str, offset: int) -> None:
    message = Source("product", 0, offset, b"k", sample_bytes(event_type))
    with engine.begin() as connection:
        process_batch(connection, [message], datetime(2026, 1, 1), DEFAULT_SECRETS)


def signalled(engine: sa.Engine, code: int) -> sa.exc.DBAPIError:
    """The error the server raises with `code` (SIGNAL), as the service receives it."""
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as connection:
        connection.exec_driver_sql(
            f"SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = {code}, MESSAGE_TEXT = 'signalled'"
        )
    return raised.value


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (1044, Problem.PERMISSION_DENIED),
        (1142, Problem.PERMISSION_DENIED),
        (1143, Problem.PERMISSION_DENIED),
        (1045, Problem.ACCESS_DENIED),
        (1049, Problem.UNKNOWN_DATABASE),
        (1054, Problem.SCHEMA_NOT_MIGRATED),
        (1146, Problem.SCHEMA_NOT_MIGRATED),
        (167, Problem.OUT_OF_RANGE),
        (1467, Problem.OUT_OF_RANGE),
        # Transient: retried without end, never dead-lettered.
        (1040, None),  # too many connections
        (1053, None),  # server shutting down
        (1205, None),  # lock wait timeout
        (1213, None),  # deadlock
        (1290, None),  # read-only (a failover in progress)
        (1317, None),  # query interrupted
        (1927, None),  # connection killed
        (4031, None),  # disconnected by the server (idle)
        (1999, None),  # unknown: transient
    ],
)
def test_errors_are_permanent_or_transient(
    mysql_engine: sa.Engine, code: int, problem: Problem | None
) -> None:
    error = signalled(mysql_engine, code)
    assert permanent_problem(error) is problem
    assert not is_data_error(error)
    assert server_message(error) == f"({code}) signalled"
