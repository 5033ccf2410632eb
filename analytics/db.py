"""Database connections: one engine factory for MySQL, MariaDB and SQLite, and error triage."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

DATABASE_URL_ENV = "ANALYTICS_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///analytics-data/analytics.db"

# Strict mode turns "value does not fit" into an error instead of a silent truncation.
MYSQL_SESSION_SETUP = (
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'"
)

# Server errors that mean "this row can never be stored as it is": the event is at
# fault, so it is dead-lettered. Every other error is treated as transient and retried,
# because dead-lettering on an unknown error could empty a whole topic into the DLQ.
MYSQL_DATA_ERRORS = frozenset(
    {
        1048,  # column cannot be null
        1062,  # duplicate entry (a unique key held by another entity)
        1264,  # out of range value
        1265,  # data truncated
        1292,  # incorrect datetime value
        1365,  # division by zero
        1366,  # incorrect string value
        1406,  # data too long
        1452,  # foreign key: parent row missing
        1690,  # value out of range
        3140,  # invalid JSON text (MySQL)
        4025,  # CHECK constraint failed (MariaDB JSON validity)
    }
)


class Problem(StrEnum):
    """Why the database cannot take the service's work; the words /health and the logs use."""

    UNREACHABLE = "database unreachable"
    ACCESS_DENIED = "access denied"
    PERMISSION_DENIED = "permission denied"
    UNKNOWN_DATABASE = "unknown database"
    SCHEMA_NOT_MIGRATED = "schema not migrated"
    OUT_OF_RANGE = "value out of range"


# Server errors that no retry fixes, only a person (a password, a GRANT, a migration):
# retried briefly, in case the fix is being rolled out, then the service stops. Every
# error that is neither these nor a data error is transient and retried without end.
MYSQL_PERMANENT_ERRORS = {
    167: Problem.OUT_OF_RANGE,  # MariaDB: an AUTO_INCREMENT column reached its type's maximum
    1044: Problem.PERMISSION_DENIED,  # no privilege at all on the database
    1045: Problem.ACCESS_DENIED,  # wrong user or password
    1049: Problem.UNKNOWN_DATABASE,
    1054: Problem.SCHEMA_NOT_MIGRATED,  # unknown column
    1109: Problem.SCHEMA_NOT_MIGRATED,  # unknown table in a multi-table statement
    1142: Problem.PERMISSION_DENIED,  # command denied on a table
    1143: Problem.PERMISSION_DENIED,  # command denied on a column
    1146: Problem.SCHEMA_NOT_MIGRATED,  # table does not exist
    1176: Problem.SCHEMA_NOT_MIGRATED,  # index named in a statement does not exist
    1227: Problem.PERMISSION_DENIED,  # a global privilege is needed
    1467: Problem.OUT_OF_RANGE,  # MySQL: failed to read the next AUTO_INCREMENT value
    1698: Problem.ACCESS_DENIED,  # MySQL: access denied (authentication plugin)
    1820: Problem.ACCESS_DENIED,  # the password must be reset before any statement
    1862: Problem.ACCESS_DENIED,  # the password expired
    3118: Problem.ACCESS_DENIED,  # MySQL: account locked
    4151: Problem.ACCESS_DENIED,  # MariaDB: account locked
}


def database_url() -> str:
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


# The drivers the code is written and tested for; anything else fails at its first query
# (or at import: `postgresql://` wants psycopg), so it is refused up front.
SUPPORTED_DRIVERS = {
    "mysql": "mysql+mysqldb",
    "mysql+mysqldb": "mysql+mysqldb",
    "mariadb": "mariadb+mysqldb",
    "mariadb+mysqldb": "mariadb+mysqldb",
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
}
SUPPORTED = "mysql+mysqldb://user:password@host:3306/name, mariadb+mysqldb://… or sqlite:///file.db"


class UnsupportedDatabaseUrl(ValueError):
    """A database URL that cannot be parsed, or names a database or driver not supported."""


def supported_url(text: str) -> URL:
    """The parsed URL, or UnsupportedDatabaseUrl saying what is supported (never the URL:
    callers show it, masked)."""
    try:
        url = make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        raise UnsupportedDatabaseUrl(f"not a database URL; use {SUPPORTED}") from None
    if url.drivername not in SUPPORTED_DRIVERS:
        raise UnsupportedDatabaseUrl(f"{url.drivername} is not supported; use {SUPPORTED}")
    return url


def masked(text: str) -> str:
    """A database URL as it may be shown: its password replaced by ***, even when the
    text does not parse as a URL."""
    try:
        return make_url(text).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        scheme, separator, rest = text.rpartition("://")
        user, at, host = rest.rpartition("@")
        if not at or ":" not in user:
            return text
        return f"{scheme}{separator}{user.split(':', 1)[0]}:***@{host}"


def is_mysql_family(url: URL | sa.Dialect) -> bool:
    name = url.get_backend_name() if isinstance(url, URL) else url.name
    return name in ("mysql", "mariadb")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Timeouts:
    """How long, in seconds, a MySQL/MariaDB connection waits on a silent server.

    Without them a hung server or a network that drops packets holds the caller forever.
    MariaDB Connector/C (libmariadb) waits `read` once per answer and `write` once per
    statement; Oracle's libmysqlclient retries a timed-out read twice and a write once, so
    there the bounds are three times `read` and twice `write`. None: no limit, for
    statements that may legitimately run long (migrations, reports).
    """

    connect: int = 10
    read: int | None = None
    write: int | None = None

    def connect_args(self) -> dict[str, int]:
        limits = {
            "connect_timeout": self.connect,
            "read_timeout": self.read,
            "write_timeout": self.write,
        }
        return {name: seconds for name, seconds in limits.items() if seconds is not None}


def create_engine(url: str | URL, timeouts: Timeouts | None = None, **kwargs: Any) -> sa.Engine:
    """An engine configured the same way for the service, the CLI, migrations and tests."""
    url = make_url(url)
    timeouts = timeouts or Timeouts()
    options: dict[str, Any] = {"json_serializer": _json_dumps, **kwargs}
    if is_mysql_family(url):
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_recycle", 3600)
        options.setdefault("isolation_level", "READ COMMITTED")
        options.setdefault(
            "connect_args", {"init_command": MYSQL_SESSION_SETUP, **timeouts.connect_args()}
        )
        engine = sa.create_engine(url, **options)
        _remember_packet_limit(engine)
        return engine
    if url.get_backend_name() == "sqlite":
        _ensure_sqlite_directory(url)
        engine = sa.create_engine(url, **options)
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(url, **options)


# What one statement may carry, in bytes. The client library refuses packets above its
# own max_allowed_packet (16 MiB in libmariadb) whatever the server allows.
CLIENT_PACKET_LIMIT = 16 * 1024 * 1024
# SQLite has no packet; its limit is SQLITE_MAX_SQL_LENGTH (1 GB by default), and the
# rows per statement are bounded by its variable limit anyway.
SQLITE_PACKET_LIMIT = 64 * 1024 * 1024
_PACKET_LIMIT = "analytics_max_allowed_packet"


def _remember_packet_limit(engine: sa.Engine) -> None:
    """Read the server's max_allowed_packet once per connection, on connect."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT @@max_allowed_packet")
            (server_limit,) = cursor.fetchone()
        finally:
            cursor.close()
        record.info[_PACKET_LIMIT] = min(int(server_limit), CLIENT_PACKET_LIMIT)


def packet_limit(connection: sa.Connection) -> int:
    """The largest statement, in bytes, this connection's server and client accept."""
    if not is_mysql_family(connection.dialect):
        return SQLITE_PACKET_LIMIT
    limit = connection.connection.info.get(_PACKET_LIMIT)
    return int(limit) if limit is not None else CLIENT_PACKET_LIMIT


def _ensure_sqlite_directory(url: URL) -> None:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: sa.Engine) -> None:
    # pysqlite opens transactions lazily and cannot nest savepoints reliably; take
    # control of BEGIN so that transactions and savepoints behave as on MySQL.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_data_error(exc: BaseException) -> bool:
    """True when the database rejected the data itself (not the connection or the load)."""
    if not isinstance(exc, sa.exc.DBAPIError) or exc.connection_invalidated:
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.IntegrityError | sqlite3.DataError):
        return True
    code = mysql_error_code(exc)
    return code in MYSQL_DATA_ERRORS


def permanent_problem(exc: BaseException) -> Problem | None:
    """What is wrong when `exc` is an error no retry fixes; None for every other error."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    return MYSQL_PERMANENT_ERRORS.get(mysql_error_code(exc) or 0)


def server_message(exc: BaseException) -> str:
    """The database's own words about `exc`, on one line, without the statement."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = getattr(orig, "args", ())
    text = args[1] if len(args) > 1 and isinstance(args[1], str) else str(orig)
    code = mysql_error_code(orig)
    line = (text.splitlines() or [type(orig).__name__])[0][:300]
    return f"({code}) {line}" if code is not None else line


def mysql_error_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None
