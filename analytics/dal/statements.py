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

Every statement is bounded by rows and by bytes: the server refuses a packet larger than
its `max_allowed_packet` (read on connect, `analytics.db.packet_limit`), and a refused
packet drops the connection, which would look like an outage and be retried forever.
A single row that cannot fit on its own raises `StatementTooLarge`, a data error: its
event is dead-lettered.

Writes of versioned rows carry the version guard (`analytics.dal.versions`) in the
statement itself, so they can never put an older version over a newer one, whatever
the writer read before.
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

from analytics.dal import versions
from analytics.dal.versions import Side, Version
from analytics.db import is_mysql_family, packet_limit
from analytics.schema import UtcDateTime

# A statement carries at most this many rows, and at most this many bytes or half the
# connection's packet limit, whichever is smaller; the rows stay under SQLite's 32,766
# variables. A single row may use the whole packet, less this margin for the SQL around it.
MAX_ROWS_PER_STATEMENT = 2000
MAX_BYTES_PER_STATEMENT = 2 * 1024 * 1024
SQLITE_MAX_VARIABLES = 32_000
# Below MariaDB's in_predicate_conversion_threshold (1000): a longer IN list becomes a join
# with a table of the values, which may scan (and lock) the whole table.
MAX_KEYS_PER_STATEMENT = 500
STATEMENT_MARGIN = 64 * 1024


def by_key(query: sa.Select[Any], table: sa.Table, column: sa.Column[Any]) -> sa.Select[Any]:
    """`query` reading `table` through the index of the unique key `column` on MySQL and
    MariaDB. Its rows are locked as they are read, and the server reads every row of a
    table scan (waiting for other transactions' locks, even on rows it then skips): when
    a key list is a large share of a small table, the optimizer prefers that scan, and
    two consumers writing disjoint rows would wait for, and deadlock on, each other."""
    hint = f"FORCE INDEX ({_index_of(table, column)})"
    return query.with_hint(table, hint, "mysql").with_hint(table, hint, "mariadb")


def _index_of(table: sa.Table, column: sa.Column[Any]) -> str:
    if list(table.primary_key.columns)[:1] == [column]:
        return "PRIMARY"
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and list(constraint.columns) == [column]:
            return str(constraint.name)
    raise ValueError(f"{table.name}.{column.name} leads no unique key")


class StatementTooLarge(Exception):
    """One row is larger than any statement the server accepts: its event cannot apply."""

    def __init__(self, table: str, size: int, limit: int) -> None:
        super().__init__(
            f"a {table} row of {size:,} bytes does not fit in one statement "
            f"(the server's max_allowed_packet allows {limit:,})"
        )


@dataclass(frozen=True, slots=True)
class Budget:
    """How large one statement may grow: `target` bytes of values, except that a single
    larger value may go alone up to `single` bytes."""

    target: int
    single: int

    @classmethod
    def of(cls, connection: sa.Connection) -> Budget:
        limit = packet_limit(connection)
        return cls(min(MAX_BYTES_PER_STATEMENT, limit // 2), limit - STATEMENT_MARGIN)


def upsert_statement(table: sa.Table, update: Sequence[str], dialect: sa.Dialect) -> sa.Insert:
    """INSERT one row; when it collides with its own key, overwrite only `update` — and
    only when the row carries the stored version or a newer one (`versions.guard`).

    On MySQL/MariaDB, ON DUPLICATE KEY UPDATE fires on *any* unique key. A table whose rows
    are identified by their primary key but which has another unique key (orders and
    order_number) would let a new entity's insert overwrite another entity's row through
    that second key; the first assignment therefore turns such a collision into a
    NOT NULL error, which the DAL dead-letters instead of merging two entities.
    """
    stored = _stored_side(table, update)
    if is_mysql_family(dialect):
        mysql_insert = mysql.insert(table)
        assignments: list[tuple[str, Any]] = []
        primary_key = _single_primary_key(table)
        if primary_key is not None and _other_unique_keys(table):
            same_entity = primary_key == mysql_insert.inserted[primary_key.name]
            assignments.append((primary_key.name, sa.func.if_(same_entity, primary_key, sa.null())))
        if stored is None:
            assignments += [(name, mysql_insert.inserted[name]) for name in update]
        else:
            newer = versions.guard(_side(table, stored, mysql_insert.inserted), stored)
            # Assignments run left to right and later ones see earlier results, so the
            # columns the guard reads go last, the timestamp very last: each guard then
            # still decides as it would on the row as it was (see _guarded_order).
            assignments += [
                (name, sa.func.if_(newer, mysql_insert.inserted[name], table.c[name]))
                for name in _guarded_order(table, update)
            ]
        return mysql_insert.on_duplicate_key_update(assignments)
    sqlite_insert = sqlite.insert(table)
    where = None
    if stored is not None:
        # SQLite evaluates the whole DO UPDATE against the row as it was.
        where = versions.guard(_side(table, stored, sqlite_insert.excluded), stored)
    return sqlite_insert.on_conflict_do_update(
        index_elements=conflict_key(table),
        set_={name: sqlite_insert.excluded[name] for name in update},
        where=where,
    )


def _stored_side(table: sa.Table, update: Sequence[str]) -> Side | None:
    """The version a stored row of `table` holds, when its upserts are versioned."""
    timestamp = _VERSION_TIMESTAMP.get(table.name)
    if timestamp is None or timestamp not in update:
        return None
    if table.name == "tombstones":
        return Side(table.c.deleted_at, versions.DELETED, table.c.event_id)
    return versions.row_side(table, lambda name: table.c[name])


def _side(table: sa.Table, stored: Side, values: Any) -> Side:
    """The same version columns read from the row being written."""
    if table.name == "tombstones":
        return Side(values.deleted_at, versions.DELETED, values.event_id)
    return versions.row_side(table, lambda name: values[name])


# The column holding each versioned table's version timestamp.
_VERSION_TIMESTAMP = {
    "users": "event_timestamp",
    "suppliers": "event_timestamp",
    "products": "event_timestamp",
    "posts": "event_timestamp",
    "orders": "event_timestamp",
    "tombstones": "deleted_at",
}


def _guarded_order(table: sa.Table, update: Sequence[str]) -> list[str]:
    """`update` with the guard's inputs last: event_id, then the rank column, then the
    timestamp. After event_id is assigned the guard compares the new id with itself,
    which changes nothing when the new version won (the timestamp or rank decided, or the
    ids compared >=) and when it lost (the old id stayed); the same holds for the rank
    column after it. Any other order would let an early assignment flip later guards."""
    rank = versions.rank_column(table.name)
    timestamp = _VERSION_TIMESTAMP[table.name]
    last = [name for name in ("event_id", rank, timestamp) if name is not None and name in update]
    return [name for name in update if name not in last] + last


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
    if dialect.driver == "mysqldb" and not any(map(_holds_bytes, types)):
        encoders = tuple(_encoder_for(type_) for type_ in types)
    return _MultiRowTemplate(sql[:start], sql[start:end], sql[end:], order, processors, encoders)


def _holds_bytes(type_: sa.types.TypeEngine[Any]) -> bool:
    """True for BLOB and BINARY columns, whose values are bytes."""
    try:
        return type_.python_type is bytes
    except NotImplementedError:  # a type that does not say: not a binary one of ours
        return False


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
        _execute_with_parameters(connection, table, template, rows)
    else:
        _execute_rendered(connection, table, template, template.encoders, rows)


def in_key_order(table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows sorted by the key they lock: writers that lock overlapping rows in one
    order wait for each other instead of deadlocking."""
    key = conflict_key(table)
    return sorted(rows, key=lambda row: tuple(str(row[name]) for name in key))


def _execute_with_parameters(
    connection: sa.Connection,
    table: sa.Table,
    template: _MultiRowTemplate,
    rows: Sequence[Mapping[str, Any]],
) -> None:
    max_rows = MAX_ROWS_PER_STATEMENT
    if not is_mysql_family(connection.dialect):
        max_rows = min(max_rows, SQLITE_MAX_VARIABLES // len(template.columns))
    pairs = tuple(zip(template.columns, template.processors, strict=True))
    sized = (_row_parameters(pairs, row) for row in rows)
    for chunk in within_limits(sized, max_rows, Budget.of(connection), table.name):
        sql = template.head + ", ".join([template.group] * len(chunk)) + template.tail
        connection.exec_driver_sql(sql, tuple(value for params in chunk for value in params))


def _row_parameters(
    pairs: Sequence[tuple[str, Callable[[Any], Any] | None]], row: Mapping[str, Any]
) -> tuple[list[Any], int]:
    """The row's bound values in statement order, and a bound on their size in the
    statement: UTF-8 bytes, doubled because quoting may escape every byte."""
    params: list[Any] = []
    size = 8 * len(pairs)
    for name, process in pairs:
        value = row[name]
        if process is not None:
            value = process(value)
        if isinstance(value, str):
            size += 2 * (len(value) if value.isascii() else len(value.encode("utf-8", "replace")))
        elif isinstance(value, bytes):
            size += 2 * len(value) + 8
        params.append(value)
    return params, size


def within_limits(
    items: Iterable[tuple[_T, int]], max_rows: int, budget: Budget, table: str
) -> Iterator[list[_T]]:
    """Consecutive runs of the sized items, each at most `max_rows` long and within the
    budget's target; an item larger than the target goes alone, up to the single limit."""
    chunk: list[_T] = []
    size = 0
    for item, item_size in items:
        if item_size > budget.single:
            raise StatementTooLarge(table, item_size, budget.single + STATEMENT_MARGIN)
        if chunk and (len(chunk) >= max_rows or size + item_size > budget.target):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
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
    table: sa.Table,
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
    budget = Budget.of(connection)
    try:
        groups = _rendered_groups(encoders, rows)
        for chunk in within_limits(groups, MAX_ROWS_PER_STATEMENT, budget, table.name):
            sql = head + ", ".join(chunk) + tail
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
    """Each row's `(...)` group, and its size in the statement in UTF-8 bytes."""
    for row in rows:
        group = "(" + ", ".join([encode(row[name]) for name, encode in encoders]) + ")"
        size = len(group) if group.isascii() else len(group.encode("utf-8", "replace"))
        yield group, size + 2


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


def key_chunks(
    connection: sa.Connection, keys: Iterable[_T], size_of: Callable[[_T], int] | None = None
) -> Iterator[list[_T]]:
    """The keys in runs that fit one statement's IN list (by count and by bytes)."""
    measure = size_of or _text_size
    sized = ((key, measure(key) + 4) for key in keys)
    return within_limits(sized, MAX_KEYS_PER_STATEMENT, Budget.of(connection), "key")


def _text_size(value: Any) -> int:
    """A bound on a key's size in a statement: UTF-8 bytes, doubled for escaping."""
    text = str(value)
    return 2 * (len(text) if text.isascii() else len(text.encode("utf-8", "replace"))) + 2


def delete_versioned(
    connection: sa.Connection, table: sa.Table, deletes: Sequence[tuple[str, Version]]
) -> None:
    """Delete each keyed row unless it holds a newer version than its delete's.

    One statement per row, through its primary key (see `delete_by_ids`)."""
    primary_key = _primary_key(table)
    stored = versions.row_side(table, lambda name: table.c[name])
    timestamp = sa.bindparam("_timestamp", type_=UtcDateTime)
    event_id = sa.bindparam("_event_id", type_=sa.String())
    by_rank: dict[int, list[dict[str, Any]]] = {}
    for key, version in sorted(deletes):
        row = {"_key": key, "_timestamp": version.timestamp, "_event_id": version.event_id}
        by_rank.setdefault(version.rank, []).append(row)
    for rank, rows in by_rank.items():
        guard = versions.guard(Side(timestamp, rank, event_id), stored)
        connection.execute(sa.delete(table).where(primary_key == sa.bindparam("_key"), guard), rows)


def patch_rows(
    connection: sa.Connection, table: sa.Table, patches: Sequence[tuple[str, Mapping[str, Any]]]
) -> None:
    """UPDATE each keyed row with its values (grouped by the columns they set), unless the
    row holds a newer version than the values carry."""
    primary_key = _primary_key(table)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key, values in sorted(patches, key=lambda patch: patch[0]):
        row = {"_key": key, **values, **{f"_new_{name}": value for name, value in values.items()}}
        by_columns.setdefault(tuple(values), []).append(row)
    for columns, params in by_columns.items():
        statement = (
            sa.update(table)
            .where(primary_key == sa.bindparam("_key"))
            .values({name: sa.bindparam(name) for name in columns})
        )
        stored = _stored_side(table, columns)
        if stored is not None:
            new = versions.row_side(
                table, lambda name: sa.bindparam(f"_new_{name}", type_=table.c[name].type)
            )
            statement = statement.where(versions.guard(new, stored))
        connection.execute(statement, params)


def existing_children(
    connection: sa.Connection,
    table: sa.Table,
    parent_column: str,
    key_column: str,
    parents: Sequence[str],
) -> list[tuple[Any, str, str]]:
    """(id, parent key, child key) of the child rows the given parents have now."""
    parent, child_key = table.c[parent_column], table.c[key_column]
    found: list[tuple[Any, str, str]] = []
    for chunk in key_chunks(connection, parents):
        query = sa.select(table.c.id, parent, child_key).where(parent.in_(chunk))
        found += [(row[0], row[1], row[2]) for row in connection.execute(query)]
    return found


def delete_by_ids(connection: sa.Connection, table: sa.Table, ids: Sequence[Any]) -> None:
    """One statement per row: a DELETE takes no index hint, and for ids that are a large
    share of a small table the server would scan it, waiting for (and deadlocking on)
    other consumers' locked rows; a primary key equality locks only its row."""
    rows = [{"_id": row_id} for row_id in sorted(ids)]
    if rows:
        connection.execute(sa.delete(table).where(table.c.id == sa.bindparam("_id")), rows)


@dataclass(frozen=True, slots=True)
class StoredVersion:
    key: str
    version: Version | None
    claim: str | None


def read_versions(
    connection: sa.Connection,
    table: sa.Table,
    keys: Sequence[str],
    claim_column: str | None,
    claims: Sequence[str],
) -> list[StoredVersion]:
    """The stored versions of the rows with these keys or claims (and their claim value),
    locked until the transaction ends so that concurrent writers of one entity serialize.

    Rows that do not exist are not locked (READ COMMITTED takes no gap locks): the write
    statements' own guards cover them."""
    primary_key = _primary_key(table)
    claim = table.c[claim_column] if claim_column is not None else None
    rank_name = versions.rank_column(table.name)
    rank = table.c[rank_name] if rank_name is not None else sa.null()
    stored_claim = claim if claim is not None else sa.null()
    columns = [primary_key, table.c.event_timestamp, table.c.event_id, rank, stored_claim]
    found: list[StoredVersion] = []
    lookups = [(primary_key, keys)] + ([(claim, claims)] if claim is not None and claims else [])
    for column, values in lookups:
        for chunk in key_chunks(connection, values):
            query = sa.select(*columns).where(column.in_(chunk)).with_for_update()
            query = by_key(query, table, column)
            found += [_stored(table.name, rank_name, row) for row in connection.execute(query)]
    return found


def _stored(table_name: str, rank_name: str | None, row: Sequence[Any]) -> StoredVersion:
    key, timestamp, event_id, rank_value, claim = row
    version = None
    if timestamp is not None:
        rank = versions.row_rank(table_name, {rank_name: rank_value}) if rank_name else 0
        version = Version(timestamp, rank, event_id or "")
    return StoredVersion(key, version, claim)


def read_tombstones(
    connection: sa.Connection,
    tombstones: sa.Table,
    table_name: str,
    keys: Sequence[str],
    lock: bool = False,
) -> dict[str, Version]:
    """The tombstone versions of these keys; `lock` waits for, and locks, tombstones that
    concurrent transactions are writing."""
    found: dict[str, Version] = {}
    for chunk in key_chunks(connection, keys):
        query = sa.select(
            tombstones.c.entity_id, tombstones.c.deleted_at, tombstones.c.event_id
        ).where(tombstones.c.entity_table == table_name, tombstones.c.entity_id.in_(chunk))
        if lock:
            query = by_key(query.with_for_update(), tombstones, tombstones.c.entity_table)
        found.update(
            (row[0], versions.tombstone_version(row[1], row[2]))
            for row in connection.execute(query)
        )
    return found


def read_written_versions(
    connection: sa.Connection, table: sa.Table, keys: Sequence[str]
) -> dict[str, tuple[datetime | None, str | None]]:
    """(event_timestamp, event_id) of the rows with these keys as they are now, locked."""
    primary_key = _primary_key(table)
    found: dict[str, tuple[datetime | None, str | None]] = {}
    for chunk in key_chunks(connection, keys):
        query = (
            sa.select(primary_key, table.c.event_timestamp, table.c.event_id)
            .where(primary_key.in_(chunk))
            .with_for_update()
        )
        query = by_key(query, table, primary_key)
        found.update((row[0], (row[1], row[2])) for row in connection.execute(query))
    return found


def _primary_key(table: sa.Table) -> sa.Column[Any]:
    (column,) = table.primary_key.columns
    return column
