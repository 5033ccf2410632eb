"""Test databases: a real server, never a mock.

The MySQL-family database is found in this order: ANALYTICS_TEST_DATABASE_URL; else a
MySQL 8 container through testcontainers when a Docker engine answers; else every test
that needs it fails with instructions. The database is dropped, recreated and migrated
with Alembic once per run. SQLite (the embedded path) is a migrated temporary file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url

from analytics import migrate
from analytics.db import create_engine
from analytics.schema import metadata

TEST_DATABASE_URL_ENV = "ANALYTICS_TEST_DATABASE_URL"
MYSQL_IMAGE = "mysql:8.4"

NO_DATABASE = f"""No test database.
Set {TEST_DATABASE_URL_ENV} to a MySQL 8 or MariaDB 10.6+ server URL, for example
  {TEST_DATABASE_URL_ENV}=mysql+mysqldb://root@127.0.0.1:3306/analytics_test
(the database is dropped and recreated by the tests), or start a Docker engine so that
testcontainers can run {MYSQL_IMAGE}."""


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(autouse=True)
def structlog_as_found() -> Iterator[None]:
    """A test that configures structlog (as the commands do) binds its output to that
    test's captured stream, which is closed once the test ends: the next test starts from
    the defaults instead of logging into a closed file."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    url = os.environ.get(TEST_DATABASE_URL_ENV)
    if url:
        yield url
        return
    if not _docker_answers():
        pytest.fail(NO_DATABASE, pytrace=False)
    from testcontainers.community.mysql import MySqlContainer

    # root, because the tests create and drop scratch databases of their own.
    with MySqlContainer(
        MYSQL_IMAGE, dialect="mysqldb", username="root", password="test"
    ) as container:
        yield container.get_connection_url()


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    assert name, f"{TEST_DATABASE_URL_ENV} must name a database"
    server = create_engine(parsed.set(database=""))
    with server.begin() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    server.dispose()


@pytest.fixture(scope="session")
def mysql_engine(mysql_url: str) -> Iterator[sa.Engine]:
    recreate_database(mysql_url)
    migrate.upgrade(mysql_url)
    engine = create_engine(mysql_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'analytics.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    yield engine
    engine.dispose()


@contextmanager
def scratch_database(mysql_url: str, drivername: str | None = None) -> Iterator[str]:
    """A new empty database next to the test database, dropped on exit."""
    base = make_url(mysql_url)
    name = f"{base.database}_{uuid.uuid4().hex[:10]}"
    server = create_engine(base.set(database=""))
    with server.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = base.set(database=name)
    if drivername is not None:
        url = url.set(drivername=drivername)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        server.dispose()


def empty_tables(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=["mysql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    """Each test runs against MySQL/MariaDB and against SQLite, on empty tables."""
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    empty_tables(engine)
    return engine


@pytest.fixture
def mysql_only(mysql_engine: sa.Engine) -> sa.Engine:
    empty_tables(mysql_engine)
    return mysql_engine
