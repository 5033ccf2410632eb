"""Connections to a silent server give up after their timeouts (measured, not assumed)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from analytics.db import Timeouts, create_engine
from tests.consumer.proxy import Proxy

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

