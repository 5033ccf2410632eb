"""The statements the DAL sends: multi-row upserts on every dialect, and the merge guard."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import MySQLdb
import pytest
import sqlalchemy as sa
from MySQLdb import _mysql
from MySQLdb.converters import conversions
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.mysql import mysqldb

from analytics.dal import statements
from analytics.schema import dead_letters, orders, users


class OfflineDriver:
    """mysqlclient's quoting without a server: its module-level escaping (UTF-8)."""

    encoding = "utf8"

    def string_literal(self, value: bytes) -> bytes:
        return bytes(_mysql.string_literal(value))

    def literal(self, value: Any) -> bytes:
        escaped = _mysql.escape(value, conversions)
        return escaped.encode() if isinstance(escaped, str) else bytes(escaped)


class StatementRecorder:
    """Stands in for a connection where no server is wanted: it only records SQL."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self.connection = SimpleNamespace(driver_connection=OfflineDriver(), info={})
        self.sent: list[tuple[str, tuple[Any, ...] | None]] = []
        self.options: list[dict[str, Any] | None] = []

    def exec_driver_sql(
        self,
        sql: str,
        params: tuple[Any, ...] | None = None,
        execution_options: dict[str, Any] | None = None,
    ) -> None:
        self.sent.append((sql, params))
        self.options.append(execution_options)


def mysqldb_dialect() -> mysqldb.MySQLDialect_mysqldb:
    return mysqldb.dialect(dbapi=MySQLdb)


def mysql8_dialect() -> sa.Dialect:
    dialect = mysqldb_dialect()
    dialect.server_version_info = (8, 0, 36)
    dialect.is_mariadb = False
    # What SQLAlchemy sets when it meets a MySQL >= 8.0.20 server: render `AS new`.
    dialect._requires_alias_for_on_duplicate_key = True
    return dialect


def user_row(n: int) -> dict[str, Any]:
    stamp = datetime(2025, 1, 15, 10, 0)
    return {
        "user_id": f"{n:024x}",
        "email": f"u{n}@example.com",
        "phone": None,
        "display_name": f"User {n}",
        "avatar": None,
        "bio": None,
        "version": 1,
        "deleted_at": None,
        "created_at": stamp,
        "updated_at": stamp,
        "event_id": f"{n:036d}",
        "event_timestamp": stamp,
    }


def rows_in(sql: str) -> int:
    return sql.count("@example.com'")


def test_mysql8_upserts_are_one_multi_row_statement_with_the_row_alias() -> None:
    recorder = StatementRecorder(mysql8_dialect())
    rows = [user_row(n) for n in range(3)]
    update = ("email", "display_name")
    statements.execute_upsert(recorder, users, rows, update)  # type: ignore[arg-type]
    ((sql, params),) = recorder.sent
    assert rows_in(sql) == 3
    first = (
        "('000000000000000000000000', 'u0@example.com', NULL, 'User 0', NULL, NULL, 1, NULL,"
        " '2025-01-15 10:00:00', '2025-01-15 10:00:00', '000000000000000000000000000000000000',"
        " '2025-01-15 10:00:00')"
    )
    assert " VALUES " + first + ", (" in sql
    assert (
        " AS new ON DUPLICATE KEY UPDATE email = new.email, display_name = new.display_name" in sql
    )
    assert "VALUES(" not in sql
    # Sent as finished SQL: the driver must not %-format it.
    assert params is None
    assert recorder.options == [{"no_parameters": True}]


def test_mariadb_upserts_use_the_values_function() -> None:
    dialect = mysqldb_dialect()
    dialect.is_mariadb = True
    recorder = StatementRecorder(dialect)
    statements.execute_upsert(recorder, users, [user_row(1)], ("email",))  # type: ignore[arg-type]
    ((sql, _),) = recorder.sent
    assert "ON DUPLICATE KEY UPDATE email = VALUES(email)" in sql


@pytest.mark.parametrize(
    ("table", "column", "index"),
    [
        (users, users.c.user_id, "PRIMARY"),
        (orders, orders.c.order_number, "uq_order_number"),
    ],
)
def test_locking_reads_name_their_index_on_mysql8_and_mariadb_only(
    table: sa.Table, column: sa.Column[Any], index: str
) -> None:
    query = statements.by_key(sa.select(column).where(column.in_(["a"])), table, column)
    mariadb = sa.create_engine("mariadb+mysqldb://", module=MySQLdb).dialect
    for dialect in (mysql8_dialect(), mariadb):
        assert f"FROM {table.name} FORCE INDEX ({index})" in str(query.compile(dialect=dialect))
    assert "FORCE" not in str(query.compile(dialect=sqlite.dialect()))


def test_sqlite_upserts_keep_their_parameters() -> None:
    recorder = StatementRecorder(sqlite.dialect())
    statements.execute_upsert(recorder, users, [user_row(1), user_row(2)], ("email",))  # type: ignore[arg-type]
    ((sql, params),) = recorder.sent
    assert sql.count("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") == 2
    assert params is not None
    assert len(params) == 2 * len(users.columns)


def test_tables_with_binary_columns_keep_their_parameters() -> None:
    """Raw message bytes need not be text, so they cannot be written into a str statement."""
    recorder = StatementRecorder(mysql8_dialect())
    row: dict[str, Any] = {c.name: None for c in dead_letters.columns if c.name != "id"}
    row.update(topic="users", kafka_partition=0, kafka_offset=7, raw_value=b"\xff\x00'")
    statements.execute_upsert(recorder, dead_letters, [row], ("reason",))  # type: ignore[arg-type]
    ((sql, params),) = recorder.sent
    assert "%s" in sql
    assert params is not None
    assert b"\xff\x00'" in params


def test_large_batches_are_split_by_row_count() -> None:
    recorder = StatementRecorder(mysql8_dialect())
    rows = [user_row(n) for n in range(statements.MAX_ROWS_PER_STATEMENT + 1)]
    statements.execute_upsert(recorder, users, rows, ("email",))  # type: ignore[arg-type]
    assert [rows_in(sql) for sql, _ in recorder.sent] == [statements.MAX_ROWS_PER_STATEMENT, 1]


def test_large_values_split_batches_by_size() -> None:
    recorder = StatementRecorder(mysql8_dialect())
    rows = [{**user_row(n), "avatar": "a" * 60_000} for n in range(100)]
    statements.execute_upsert(recorder, users, rows, ("avatar",))  # type: ignore[arg-type]
    assert len(recorder.sent) > 1
    assert sum(rows_in(sql) for sql, _ in recorder.sent) == 100
    assert all(len(sql.encode()) < 4 * 1024 * 1024 for sql, _ in recorder.sent)


def order_row(order_id: str, number: str, status: str) -> dict[str, Any]:
    stamp = datetime(2025, 1, 15, 10, 0)
    row: dict[str, Any] = {column.name: None for column in orders.columns}
    row.update(
        order_id=order_id,
        order_number=number,
        customer_user_id="c" * 24,
        status=status,
        created_at=stamp,
        updated_at=stamp,
    )
    return row


def test_an_upsert_never_merges_two_orders_through_order_number(engine: sa.Engine) -> None:
    """The guard below the planner: even a direct upsert cannot land on another order."""
    update = ("status", "updated_at", "event_id", "event_timestamp")
    with engine.begin() as connection:
        statements.execute_upsert(
            connection, orders, [order_row("a" * 24, "ORD-1", "pending")], update
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        statements.execute_upsert(
            connection, orders, [order_row("b" * 24, "ORD-1", "shipped")], update
        )
    with engine.connect() as connection:
        stored = connection.execute(sa.select(orders.c.order_id, orders.c.status)).all()
    assert [tuple(row) for row in stored] == [("a" * 24, "pending")]


def test_an_upsert_of_the_same_order_updates_it(engine: sa.Engine) -> None:
    update = ("status",)
    for status in ("pending", "shipped"):
        with engine.begin() as connection:
            statements.execute_upsert(
                connection, orders, [order_row("a" * 24, "ORD-1", status)], update
            )
    with engine.connect() as connection:
        assert connection.execute(sa.select(orders.c.status)).scalar_one() == "shipped"
