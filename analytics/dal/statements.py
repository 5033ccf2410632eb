"""SQL statements of the DAL and the multi-row executor that sends them.

Upserts are built with `mysql.insert().on_duplicate_key_update()` (SQLite:
`on_conflict_do_update()`) and compiled once per table, column set and dialect. They are
then sent as multi-row `INSERT ... VALUES (...), (...), ...` statements, a few thousand rows
per round trip. Neither of the usual batching paths covers this statement: SQLAlchemy's
"insertmanyvalues" skips statements with an ON DUPLICATE KEY clause, and mysqlclient's
`executemany` only rewrites the `VALUES()` form, not the `AS new` row alias that
SQLAlchemy renders for MySQL 8.0.20+, so it would fall back to one round trip per row.

With mysqlclient the values are rendered into the SQL text by per-column encoders (see
`_execute_rendered`); SQLite, and tables with binary columns, send them as parameters.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from analytics.db import is_mysql_family
from analytics.sequences import batched

# A statement carries at most this many rows or characters of values. Even at four UTF-8
# bytes a character that stays under the max_allowed_packet defaults of the supported
# servers (MariaDB 10.11: 16 MiB, MySQL 8: 64 MiB), and the rows under SQLite's 32,766
# variables.
MAX_ROWS_PER_STATEMENT = 2000
MAX_BYTES_PER_STATEMENT = 2 * 1024 * 1024
SQLITE_MAX_VARIABLES = 32_000
MAX_KEYS_PER_STATEMENT = 1000


def upsert_statement(table: sa.Table, update: Sequence[str], dialect: sa.Dialect) -> sa.Insert:
    """INSERT one row; when it collides with its own key, overwrite only `update`.

    On MySQL/MariaDB, ON DUPLICATE KEY UPDATE fires on *any* unique key. A table whose rows
    are identified by their primary key but which has another unique key (orders and
    order_number) would let a new entity's insert overwrite another entity's row through
    that second key; the first assignment therefore turns such a collision into a
    NOT NULL error, which the DAL dead-letters instead of merging two entities.
    """
    if is_mysql_family(dialect):
        mysql_insert = mysql.insert(table)
        assignments: list[tuple[str, Any]] = []
        primary_key = _single_primary_key(table)
        if primary_key is not None and _other_unique_keys(table):
            same_entity = primary_key == mysql_insert.inserted[primary_key.name]
            assignments.append((primary_key.name, sa.func.if_(same_entity, primary_key, sa.null())))
        assignments += [(name, mysql_insert.inserted[name]) for name in update]
        return mysql_insert.on_duplicate_key_update(assignments)
    sqlite_insert = sqlite.insert(table)
    return sqlite_insert.on_conflict_do_update(
        index_elements=conflict_key(table),
        set_={name: sqlite_insert.excluded[name] for name in update},
    )


def conflict_key(table: sa.Table) -> list[str]:
    """The key an upsert matches rows on: the primary key, or for child tables with a
    surrogate id, their natural unique key."""
    autoincrement = table.autoincrement_column
    if autoincrement is None:
        return [column.name for column in table.primary_key.columns]
    unique = _other_unique_keys(table)
    return [column.name for column in unique[0].columns]


def _single_primary_key(table: sa.Table) -> sa.Column[Any] | None:
    columns = list(table.primary_key.columns)
    return columns[0] if len(columns) == 1 and table.autoincrement_column is None else None


def _other_unique_keys(table: sa.Table) -> list[sa.UniqueConstraint]:
    return [c for c in table.constraints if isinstance(c, sa.UniqueConstraint)]


_T = TypeVar("_T")
_Encoder = Callable[[Any], str]


class _Driver(Protocol):
    """What the encoders use of a mysqlclient connection: its charset and its quoting."""

    encoding: str

    def string_literal(self, value: bytes, /) -> bytes: ...

    def literal(self, value: Any, /) -> bytes: ...


_EncoderFactory = Callable[[_Driver], _Encoder]


@dataclass(frozen=True, slots=True)
class _MultiRowTemplate:
    """A compiled single-row INSERT split around its VALUES group, ready to repeat it."""

    head: str
    group: str
    tail: str
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    # How each column's values become SQL text; None: send them as parameters.
    encoders: tuple[_EncoderFactory, ...] | None


@functools.lru_cache(maxsize=256)
def _template(
    table: sa.Table, columns: tuple[str, ...], update: tuple[str, ...], dialect: sa.Dialect
) -> _MultiRowTemplate:
    statement = upsert_statement(table, update, dialect)
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    sql = compiled.string
    start = sql.index(" VALUES (") + len(" VALUES ")
    end = sql.index(")", start) + 1
    order = tuple(compiled.positiontup or ())
    if len(order) != len(columns):
        raise AssertionError(f"unexpected bound parameters in {sql!r}")
    types = [table.c[name].type.dialect_impl(dialect) for name in order]
    processors = tuple(type_.bind_processor(dialect) for type_ in types)
    encoders = None
    # Rendered with mysqlclient's own quoting. Binary values (any BLOB or BINARY type) need
    # not be text, which a str statement is: their tables (dead letters) keep parameters.
    if dialect.driver == "mysqldb" and not any(isinstance(t, sa.types._Binary) for t in types):
        encoders = tuple(_encoder_for(type_) for type_ in types)
    return _MultiRowTemplate(sql[:start], sql[start:end], sql[end:], order, processors, encoders)


def execute_upsert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    update: Sequence[str],
) -> None:
    if not rows:
        return
    template = _template(table, tuple(rows[0]), tuple(update), connection.dialect)
    if template.encoders is None:
        _execute_with_parameters(connection, template, rows)
    else:
        _execute_rendered(connection, template, template.encoders, rows)


def _execute_with_parameters(
    connection: sa.Connection, template: _MultiRowTemplate, rows: Sequence[Mapping[str, Any]]
) -> None:
    max_rows = MAX_ROWS_PER_STATEMENT
    if not is_mysql_family(connection.dialect):
        max_rows = min(max_rows, SQLITE_MAX_VARIABLES // len(template.columns))
    pairs = tuple(zip(template.columns, template.processors, strict=True))
    sized = (_row_parameters(pairs, row) for row in rows)
    for chunk in _within_limits(sized, max_rows):
        sql = template.head + ", ".join([template.group] * len(chunk)) + template.tail
        connection.exec_driver_sql(sql, tuple(value for params in chunk for value in params))


def _row_parameters(
    pairs: Sequence[tuple[str, Callable[[Any], Any] | None]], row: Mapping[str, Any]
) -> tuple[list[Any], int]:
    """The row's bound values in statement order, and (roughly) their size."""
    params: list[Any] = []
    size = 8 * len(pairs)
    for name, process in pairs:
        value = row[name]
        if process is not None:
            value = process(value)
        if isinstance(value, str | bytes):
            size += len(value)
        params.append(value)
    return params, size


def _within_limits(items: Iterable[tuple[_T, int]], max_rows: int) -> Iterator[list[_T]]:
    """Consecutive runs of the sized items, each at most `max_rows` long and closed once
    it reaches MAX_BYTES_PER_STATEMENT."""
    chunk: list[_T] = []
    size = 0
    for item, item_size in items:
        chunk.append(item)
        size += item_size
        if len(chunk) >= max_rows or size >= MAX_BYTES_PER_STATEMENT:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


# MySQL family: the values are rendered into the statement. mysqlclient would quote each
# parameter through `Connection.literal`, a Python-level type dispatch per value, and then
# %-format the statement; instead each column's encoder is chosen once, from its type,
# and the finished SQL goes out with `no_parameters` (so the driver leaves `%` alone).
# An encoder takes its fast path only for the exact Python type its column holds and
# hands anything else to `Connection.literal`: the SQL is the driver's own for any value.


def _execute_rendered(
    connection: sa.Connection,
    template: _MultiRowTemplate,
    factories: Sequence[_EncoderFactory],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    driver = cast(_Driver, connection.connection.driver_connection)
    encoders = [
        (name, _processed(process, make(driver)))
        for name, process, make in zip(
            template.columns, template.processors, factories, strict=True
        )
    ]
    # Compiled for the driver's %-formatting, the SQL text has its literal `%` doubled.
    head, tail = template.head.replace("%%", "%"), template.tail.replace("%%", "%")
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        for groups in _within_limits(_rendered_groups(encoders, rows), MAX_ROWS_PER_STATEMENT):
            sql = head + ", ".join(groups) + tail
            connection.exec_driver_sql(sql, execution_options={"no_parameters": True})
    except sa.exc.StatementError as error:
        # The statement holds every value of up to 2,000 rows: keep errors and tracebacks
        # to its columns, as parameters would have.
        error.statement = head + "..."
        raise
    except dbapi_error as error:
        # A value the driver refuses to quote (a NaN float): wrapped as SQLAlchemy wraps
        # it when the driver raises it while executing.
        raise sa.exc.DBAPIError.instance(head, None, error, dbapi_error) from error


def _rendered_groups(
    encoders: Sequence[tuple[str, _Encoder]], rows: Iterable[Mapping[str, Any]]
) -> Iterator[tuple[str, int]]:
    """Each row's `(...)` group, and its length in the statement."""
    for row in rows:
        group = "(" + ", ".join([encode(row[name]) for name, encode in encoders]) + ")"
        yield group, len(group) + 2


def _processed(process: Callable[[Any], Any] | None, encode: _Encoder) -> _Encoder:
    """Encode what the column type's bind processor makes of a value (JSON: its text)."""
    if process is None:
        return encode
    return lambda value: encode(process(value))


def _encoder_for(type_: sa.types.TypeEngine[Any]) -> _EncoderFactory:
    if isinstance(type_, sa.String | sa.JSON):  # Text, Enum; JSON once serialized
        return _text_encoder
    if isinstance(type_, sa.Integer | sa.Boolean):  # Boolean: 1 or 0 once processed
        return functools.partial(_typed_encoder, int, str)
    if isinstance(type_, sa.Float):  # Double
        return functools.partial(_typed_encoder, float, _float_text)
    if isinstance(type_, sa.DateTime):
        return functools.partial(_typed_encoder, datetime, _datetime_text)
    return _driver_encoder


def _text_encoder(driver: _Driver) -> _Encoder:
    """Strings are escaped by the connection (mysql_real_escape_string, its charset)."""
    string_literal, encoding, literal = driver.string_literal, driver.encoding, driver.literal

    def encode(value: Any) -> str:
        if type(value) is str:
            return string_literal(value.encode(encoding)).decode(encoding)
        return "NULL" if value is None else literal(value).decode(encoding)

    return encode


def _typed_encoder(kind: type, text: Callable[[Any], str | None], driver: _Driver) -> _Encoder:
    """`text(value)` for a value of exactly type `kind`, unless that declines (None)."""
    literal, encoding = driver.literal, driver.encoding

    def encode(value: Any) -> str:
        if type(value) is kind:
            rendered = text(value)
            if rendered is not None:
                return rendered
        return "NULL" if value is None else literal(value).decode(encoding)

    return encode


def _driver_encoder(driver: _Driver) -> _Encoder:
    literal, encoding = driver.literal, driver.encoding
    return lambda value: literal(value).decode(encoding)


def _float_text(value: float) -> str | None:
    """The driver's form, repr (it round-trips) as a DOUBLE literal; it refuses NaN and
    the infinities itself."""
    if not math.isfinite(value):
        return None
    text = repr(value)
    return text if "e" in text else text + "e0"


def _datetime_text(value: datetime) -> str | None:
    """The driver's form: microseconds only when there are some. It drops an offset
    (isoformat would not), so aware datetimes are left to it."""
    if value.tzinfo is not None:
        return None
    return "'" + value.isoformat(" ") + "'"


def delete_by_keys(connection: sa.Connection, table: sa.Table, keys: Sequence[str]) -> None:
    primary_key = _primary_key(table)
    for chunk in batched(keys, MAX_KEYS_PER_STATEMENT):
        connection.execute(sa.delete(table).where(primary_key.in_(chunk)))


def patch_rows(
    connection: sa.Connection, table: sa.Table, patches: Sequence[tuple[str, Mapping[str, Any]]]
) -> None:
    """UPDATE each keyed row with its values (grouped by the columns they set)."""
    primary_key = _primary_key(table)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key, values in patches:
        by_columns.setdefault(tuple(values), []).append({"_key": key, **values})
    for columns, params in by_columns.items():
        statement = (
            sa.update(table)
            .where(primary_key == sa.bindparam("_key"))
            .values({name: sa.bindparam(name) for name in columns})
        )
        connection.execute(statement, params)


def delete_children_except(
    connection: sa.Connection,
    table: sa.Table,
    parent_column: str,
    key_column: str,
    keep: Mapping[str, Iterable[str]],
) -> None:
    """Delete the children of the given parents whose key is not listed for their parent."""
    parent, child_key = table.c[parent_column], table.c[key_column]
    for parents in batched(list(keep), MAX_KEYS_PER_STATEMENT):
        kept = [(p, k) for p in parents for k in keep[p]]
        condition: sa.ColumnElement[bool] = parent.in_(parents)
        if kept:
            condition = condition & sa.tuple_(parent, child_key).not_in(kept)
        connection.execute(sa.delete(table).where(condition))


def read_versions(
    connection: sa.Connection,
    table: sa.Table,
    keys: Sequence[str],
    claim_column: str | None,
    claims: Sequence[str],
) -> list[tuple[str, datetime | None, str | None]]:
    """(key, event_timestamp, claim value) of the rows with these keys or claims, locked
    until the transaction ends so that concurrent writers of one entity serialize."""
    primary_key = _primary_key(table)
    claim = table.c[claim_column] if claim_column is not None else sa.null()
    columns = [primary_key, table.c.event_timestamp, claim]
    rows: list[tuple[str, datetime | None, str | None]] = []
    for chunk in batched(keys, MAX_KEYS_PER_STATEMENT):
        query = sa.select(*columns).where(primary_key.in_(chunk)).with_for_update()
        rows += [(row[0], row[1], row[2]) for row in connection.execute(query)]
    for chunk in batched(claims, MAX_KEYS_PER_STATEMENT):
        query = sa.select(*columns).where(claim.in_(chunk)).with_for_update()
        rows += [(row[0], row[1], row[2]) for row in connection.execute(query)]
    return rows


def read_tombstones(
    connection: sa.Connection, tombstones: sa.Table, table_name: str, keys: Sequence[str]
) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for chunk in batched(keys, MAX_KEYS_PER_STATEMENT):
        query = sa.select(tombstones.c.entity_id, tombstones.c.deleted_at).where(
            tombstones.c.entity_table == table_name, tombstones.c.entity_id.in_(chunk)
        )
        found.update((row[0], row[1]) for row in connection.execute(query))
    return found


def _primary_key(table: sa.Table) -> sa.Column[Any]:
    (column,) = table.primary_key.columns
    return column
