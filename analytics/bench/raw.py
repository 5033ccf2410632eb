"""The raw ceiling: the end-to-end run's resulting rows written as fast as this server takes them.

No Kafka, no decoding, no validation, no planning: the rows are read back from the tables
the consumer filled, the tables are emptied, and the rows go back in through MySQLdb as
multi-row `INSERT ... ON DUPLICATE KEY UPDATE` statements of a few MB each, parents first,
in primary-key order, in transactions of up to `ROWS_PER_COMMIT` rows. That is the physical
limit for producing these tables on this database and machine: whatever the service does
beyond it is its own cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from MySQLdb import _mysql
from MySQLdb.converters import conversions

from analytics.bench.database import COMPARED_TABLES, read_rows
from analytics.dal.statements import conflict_key

# Statement size and commit interval hardly matter beyond these (64 KB to 8 MB statements
# measured within a few percent on MariaDB 10.11); max_allowed_packet bounds the size.
STATEMENT_BYTES = 2 * 1024 * 1024
ROWS_PER_COMMIT = 50_000


@dataclass(frozen=True)
class TableRows:
    table: sa.Table
    columns: list[str]
    rows: Sequence[tuple[Any, ...]]


@dataclass(frozen=True)
class RawResult:
    rows: int
    seconds: float
    statements: int
    commits: int


def literal(value: Any) -> bytes:
    """A value as SQL text. The common types are escaped directly (the driver's own
    `literal` goes through a Python function per value and spends as long escaping as
    the server spends inserting); anything else through the driver's converters."""
    kind = type(value)
    if kind is str:
        return bytes(_mysql.string_literal(value.encode("utf-8")))
    if value is None:
        return b"NULL"
    if kind is int:
        return str(value).encode("ascii")
    if isinstance(value, datetime):
        return b"'" + value.isoformat(" ").encode("ascii") + b"'"
    escaped = _mysql.escape(value, conversions)
    if isinstance(escaped, str):
        return escaped.encode("utf-8")
    return bytes(escaped)


def read_back(connection: Any) -> list[TableRows]:
    tables = []
    for table in COMPARED_TABLES:
        columns, rows = read_rows(connection, table)
        tables.append(TableRows(table, columns, rows))
    return tables


def upsert_sql(table: sa.Table, columns: Sequence[str]) -> tuple[bytes, bytes]:
    """The statement before and after its VALUES groups."""
    keys = set(conflict_key(table))
    names = ", ".join(f"`{name}`" for name in columns)
    update = [name for name in columns if name not in keys] or list(columns)
    assignments = ", ".join(f"`{name}` = VALUES(`{name}`)" for name in update)
    head = f"INSERT INTO `{table.name}` ({names}) VALUES "
    return head.encode(), f" ON DUPLICATE KEY UPDATE {assignments}".encode()


def _statements(table_rows: TableRows) -> Iterator[tuple[bytes, int]]:
    """(statement, rows in it) of at most STATEMENT_BYTES each."""
    head, tail = upsert_sql(table_rows.table, table_rows.columns)
    groups: list[bytes] = []
    size = 0
    for row in table_rows.rows:
        group = b"(" + b",".join(map(literal, row)) + b")"
        groups.append(group)
        size += len(group) + 1
        if size >= STATEMENT_BYTES:
            yield head + b",".join(groups) + tail, len(groups)
            groups, size = [], 0
    if groups:
        yield head + b",".join(groups) + tail, len(groups)


def write(
    connection: Any,
    tables: Sequence[TableRows],
    on_rows: Callable[[int], None] | None = None,
) -> RawResult:
    """Write the rows parents first; commit every ROWS_PER_COMMIT rows and per table."""
    cursor = connection.cursor()
    written = statements = commits = uncommitted = 0
    started = time.perf_counter()
    for table_rows in tables:
        for sql, count in _statements(table_rows):
            cursor.execute(sql)
            statements += 1
            written += count
            uncommitted += count
            if uncommitted >= ROWS_PER_COMMIT:
                connection.commit()
                commits += 1
                uncommitted = 0
            if on_rows is not None:
                on_rows(written)
        if uncommitted:
            connection.commit()
            commits += 1
            uncommitted = 0
    seconds = time.perf_counter() - started
    cursor.close()
    return RawResult(written, seconds, statements, commits)
