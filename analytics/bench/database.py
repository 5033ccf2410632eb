"""The bench's own database: checked, created, migrated, emptied between runs and compared.

The raw ceiling and the seed-style baseline write through the plain MySQLdb connections
opened here, set up as the service sets up its own sessions (strict SQL mode, UTC, READ
COMMITTED); the consumer and the in-process pipeline use the service's SQLAlchemy engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import MySQLdb
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from analytics import migrate
from analytics.dal.statements import conflict_key
from analytics.db import MYSQL_SESSION_SETUP, is_mysql_family
from analytics.schema import dead_letters, metadata

DEFAULT_DATABASE_URL = "mysql+mysqldb://root@127.0.0.1:3306/analytics_bench"

# The tables the three methods must leave equal: the read model and the tombstones,
# parents first. Dead letters are checked separately (a clean stream has none).
COMPARED_TABLES: tuple[sa.Table, ...] = tuple(
    table for table in metadata.sorted_tables if table is not dead_letters
)
# Surrogate ids depend on insertion order, not on the events.
SURROGATE_COLUMNS = frozenset({"id"})


class BenchError(Exception):
    """The bench cannot run or its methods disagree; the message says why."""


def bench_url(url: str) -> URL:
    """The parsed URL, or BenchError when the bench cannot (or must not) use it."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise BenchError(f"invalid database URL: {exc}") from None
    if not is_mysql_family(parsed):
        raise BenchError(
            f"analytics bench needs a MySQL or MariaDB database, not {parsed.get_backend_name()}:"
            " its raw ceiling and seed-style baseline talk to the server through MySQLdb"
            " directly. SQLite is not supported. Example: --database-url"
            f" {DEFAULT_DATABASE_URL}"
        )
    if parsed.get_driver_name() != "mysqldb":
        raise BenchError(
            "analytics bench uses the MySQLdb (mysqlclient) driver:"
            f" write {parsed.get_backend_name()}+mysqldb://..."
        )
    if not parsed.database:
        raise BenchError("the database URL must name the bench's database")
    if "bench" not in parsed.database:
        raise BenchError(
            f"refusing to use database {parsed.database!r}: the bench empties its database"
            " before every run, so its name must contain 'bench' (e.g. analytics_bench)"
        )
    return parsed


def shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def connect(url: URL, *, with_database: bool = True) -> Any:
    """A MySQLdb connection with the service's session settings, autocommit off."""
    options: dict[str, Any] = {
        "charset": "utf8mb4",
        "init_command": MYSQL_SESSION_SETUP,
        "autocommit": False,
    }
    if url.host:
        options["host"] = url.host
    if url.port:
        options["port"] = url.port
    if url.username:
        options["user"] = url.username
    if url.password:
        options["password"] = str(url.password)
    if with_database:
        options["database"] = url.database
    socket = url.query.get("unix_socket")
    if isinstance(socket, str):
        options["unix_socket"] = socket
    try:
        connection = MySQLdb.connect(**options)
    except MySQLdb.Error as exc:
        raise BenchError(f"cannot connect to {shown(url)}: {exc}") from None
    cursor = connection.cursor()
    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cursor.close()
    return connection


@contextmanager
def connection_to(url: URL) -> Iterator[Any]:
    connection = connect(url)
    try:
        yield connection
    finally:
        connection.close()


def prepare(url: URL) -> str:
    """Create the database if needed, migrate it to head and empty it; return the
    server's version string."""
    server = connect(url, with_database=False)
    try:
        cursor = server.cursor()
        name = str(url.database).replace("`", "``")
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
        cursor.execute("SELECT VERSION()")
        (version,) = cursor.fetchone()
        server.commit()
    finally:
        server.close()
    migrate.upgrade(url.render_as_string(hide_password=False))
    with connection_to(url) as connection:
        empty(connection)
    return str(version)


def empty(connection: Any) -> None:
    """Every table emptied (TRUNCATE: fast, and resets the surrogate ids)."""
    cursor = connection.cursor()
    cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
    try:
        for table in metadata.sorted_tables:
            cursor.execute(f"TRUNCATE TABLE `{table.name}`")
    finally:
        cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
    connection.commit()


def compared_columns(table: sa.Table) -> list[str]:
    return [column.name for column in table.columns if column.name not in SURROGATE_COLUMNS]


@dataclass(frozen=True)
class Snapshot:
    """Row counts and a content digest per table (surrogate ids left out)."""

    counts: dict[str, int]
    digests: dict[str, str]
    dead_letters: int

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def differences(self, other: Snapshot) -> list[str]:
        """The tables whose rows differ from `other`'s."""
        return [
            name
            for name in self.digests
            if self.digests[name] != other.digests.get(name)
            or self.counts[name] != other.counts.get(name)
        ]


def snapshot(connection: Any) -> Snapshot:
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    cursor = connection.cursor()
    for table in COMPARED_TABLES:
        columns = ", ".join(f"`{name}`" for name in compared_columns(table))
        order = ", ".join(f"`{name}`" for name in conflict_key(table))
        cursor.execute(f"SELECT {columns} FROM `{table.name}` ORDER BY {order}")
        digest = hashlib.sha256()
        count = 0
        for row in cursor.fetchall():
            digest.update(repr(row).encode("utf-8"))
            count += 1
        counts[table.name] = count
        digests[table.name] = digest.hexdigest()
    cursor.execute(f"SELECT COUNT(*) FROM `{dead_letters.name}`")
    (letters,) = cursor.fetchone()
    connection.commit()
    return Snapshot(counts, digests, int(letters))


def require_same(expected: Snapshot, actual: Snapshot, what: str) -> None:
    differing = expected.differences(actual)
    if differing:
        details = ", ".join(
            f"{name} ({expected.counts[name]} vs {actual.counts.get(name)} rows)"
            for name in differing
        )
        raise BenchError(f"{what} left different tables than the end-to-end run: {details}")


def read_rows(connection: Any, table: sa.Table) -> tuple[list[str], Sequence[tuple[Any, ...]]]:
    """All rows of `table` without surrogate ids, in clustered-index order."""
    columns = compared_columns(table)
    order = ", ".join(f"`{c.name}`" for c in table.primary_key.columns)
    cursor = connection.cursor()
    names = ", ".join(f"`{name}`" for name in columns)
    cursor.execute(f"SELECT {names} FROM `{table.name}` ORDER BY {order}")
    rows: Sequence[tuple[Any, ...]] = cursor.fetchall()
    connection.commit()
    return columns, rows
