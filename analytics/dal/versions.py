"""The order of an entity's versions, and the guard that keeps each row at its newest.

An entity's events are ordered by `Version`: first the event timestamp; at equal
timestamps (normal at millisecond resolution) an event that deletes — a hard delete, a
soft delete, a cancel — comes after one that does not; then the event id, by code point.
The order is total, so whatever order the events of one entity arrive in and however
often they are redelivered, the newest version wins and a redelivered older one is
stale: `product.updated@T`, `product.deleted@T`, then `product.updated@T` again leaves
the product deleted.

The rank of a version is read from the values it writes (`deleted_at` set, `status`
cancelled; a tombstone is a delete), so the same rule can be evaluated by the server on
the stored row. `guard` builds that comparison for the write statements themselves: a
writer that planned against a stale read (two writers of one new entity) still cannot
put an older version over a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from analytics.mapping.ops import Change, Kind, Patch, Upsert

NOT_DELETED, DELETED = 0, 1

# The column whose value says a row is in its deleted state, per table with soft deletes
# or cancels, and the value test. Hard-deleted tables have no such rows (their deletes
# are tombstones), and child tables follow their parent.
_DELETED_WHEN: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "users": ("deleted_at", lambda value: value is not None),
    "posts": ("deleted_at", lambda value: value is not None),
    "orders": ("status", lambda value: value == "cancelled"),
}
_CANCELLED = "cancelled"

# Tables whose rows are hard-deleted, leaving a tombstone.
TOMBSTONED = frozenset({"suppliers", "products"})


@dataclass(frozen=True, order=True, slots=True)
class Version:
    timestamp: datetime
    rank: int
    event_id: str


def rank_column(table_name: str) -> str | None:
    """The column that decides a stored row's rank, if the table has one."""
    spec = _DELETED_WHEN.get(table_name)
    return spec[0] if spec else None


def row_rank(table_name: str, values: Mapping[str, Any]) -> int:
    """The rank of a row (or of the values a patch writes) of `table_name`."""
    spec = _DELETED_WHEN.get(table_name)
    if spec is None:
        return NOT_DELETED
    column, is_deleted = spec
    return DELETED if is_deleted(values.get(column)) else NOT_DELETED


def version_of(change: Change) -> Version:
    return Version(change.timestamp, _change_rank(change), change.event_id)


def _change_rank(change: Change) -> int:
    if change.kind is Kind.DELETE:
        return DELETED
    table = change.table.name
    for op in change.ops:
        if isinstance(op, Upsert) and op.table is change.table:
            return row_rank(table, op.row)
        if isinstance(op, Patch) and op.table is change.table:
            return row_rank(table, op.values)
    return NOT_DELETED


def tombstone_version(deleted_at: datetime, event_id: str | None) -> Version:
    return Version(deleted_at, DELETED, event_id or "")


# --- the same order, evaluated by the server ------------------------------------------

Column = Callable[[str], sa.ColumnElement[Any]]


@dataclass(frozen=True)
class Side:
    """One version as SQL: its timestamp, its rank (a constant or an expression) and id."""

    timestamp: sa.ColumnElement[Any]
    rank: int | sa.ColumnElement[Any]
    event_id: sa.ColumnElement[Any]


def row_side(table: sa.Table, column: Column, timestamp_column: str = "event_timestamp") -> Side:
    """The version held by (or carried in) a row of `table`, its columns read by `column`."""
    return Side(column(timestamp_column), rank_sql(table.name, column), column("event_id"))


def rank_sql(table_name: str, column: Column) -> int | sa.ColumnElement[Any]:
    spec = _DELETED_WHEN.get(table_name)
    if spec is None:
        return NOT_DELETED
    name = spec[0]
    deleted: sa.ColumnElement[bool]
    if name == "deleted_at":
        deleted = column(name).is_not(None)
    else:
        deleted = _as_bytes(column(name)) == _as_bytes(_constant(f"'{_CANCELLED}'"))
    return sa.case((deleted, _constant(DELETED)), else_=_constant(NOT_DELETED))


def guard(new: Side, stored: Side) -> sa.ColumnElement[bool]:
    """True when `new` is the same version as `stored` or a newer one (or nothing is
    stored yet): the condition under which a write may replace the stored row."""
    same_rank: sa.ColumnElement[bool]
    later_id = _as_bytes(new.event_id) >= _as_bytes(
        sa.func.coalesce(stored.event_id, _constant("''"))
    )
    if isinstance(new.rank, int) and isinstance(stored.rank, int):
        if new.rank != stored.rank:
            tied = sa.true() if new.rank > stored.rank else sa.false()
            return sa.or_(
                stored.timestamp.is_(None),
                new.timestamp > stored.timestamp,
                sa.and_(new.timestamp == stored.timestamp, tied),
            )
        same_rank = later_id
    else:
        new_rank, stored_rank = _rank_expression(new.rank), _rank_expression(stored.rank)
        same_rank = sa.or_(new_rank > stored_rank, sa.and_(new_rank == stored_rank, later_id))
    return sa.or_(
        stored.timestamp.is_(None),
        new.timestamp > stored.timestamp,
        sa.and_(new.timestamp == stored.timestamp, same_rank),
    )


def _rank_expression(rank: int | sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return _constant(rank) if isinstance(rank, int) else rank


def _constant(value: int | str) -> sa.ColumnElement[Any]:
    """An SQL literal, not a bound parameter: the upsert templates carry only row values."""
    return sa.literal_column(str(value))


def _as_bytes(value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Compared as bytes: UTF-8 byte order is code point order, as Python compares str,
    whatever the column's collation (event ids live in case-insensitive columns)."""
    return sa.cast(value, sa.LargeBinary())
