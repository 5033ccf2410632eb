"""Two accepted changes of one entity → one change with the same effect, where one exists.

A batch often holds several versions of one entity: an order created and shipped, a
product edited a few times within a second. The rows only need the entity's net change,
so `apply` folds each entity's accepted changes before writing; a stream implies about
4.5 row writes per final row, and most of them are versions that the next one overwrites.

Upserts are what make folding exact. An upsert inserts its whole row, or overwrites only
its `update` columns of the row already there. Upserting A then B therefore leaves B's
update columns and A's other (insert-only) columns whether or not the row existed, which
is the single upsert of that combined row. Changes that cannot be folded this way stay
apart, and `apply` writes them in turn.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Hashable, Mapping, Sequence

import sqlalchemy as sa

from analytics.dal.statements import conflict_key
from analytics.mapping.ops import Change, Delete, Kind, Op, Patch, ReplaceChildren, Upsert


def combine(earlier: Change, later: Change) -> Change | None:
    """One change equal to applying `earlier` then `later` to the same entity, or None
    when the two must be written one after the other."""
    if later.kind is Kind.DELETE:
        # The row goes, and its child rows with it by cascade; the newer tombstone wins.
        return later
    if earlier.kind is Kind.DELETE or (earlier.kind, later.kind) == (Kind.PATCH, Kind.SNAPSHOT):
        return None
    ops = _combine_ops(earlier.ops, later.ops)
    if ops is None:
        return None
    return dataclasses.replace(later, kind=earlier.kind, ops=ops)


def _combine_ops(earlier: Sequence[Op], later: Sequence[Op]) -> tuple[Op, ...] | None:
    combined = list(earlier)
    positions = {_identity(op): position for position, op in enumerate(combined)}
    for op in later:
        position = positions.get(_identity(op))
        if isinstance(op, Patch) and position is None:
            position = positions.get(_row_identity(op.table, (op.key,)))
        if position is None:
            if isinstance(op, Patch | Delete):
                return None
            positions[_identity(op)] = len(combined)
            combined.append(op)
            continue
        folded = _fold(combined[position], op)
        if folded is None:
            return None
        combined[position] = folded
    return tuple(combined)


def _fold(earlier: Op, later: Op) -> Op | None:
    match earlier, later:
        case Upsert(), Upsert():
            return _upsert_then_upsert(earlier, later)
        case Upsert(), Patch():
            return _upsert_then_patch(earlier, later)
        case Patch(), Patch():
            return Patch(later.table, later.key, {**earlier.values, **later.values})
        case ReplaceChildren(), ReplaceChildren() if _rewrites_whole_rows(later):
            return later
    return None


def _upsert_then_upsert(earlier: Upsert, later: Upsert) -> Upsert | None:
    if earlier.update != later.update or earlier.row.keys() != later.row.keys():
        return None
    kept = _insert_only(later.update, tuple(later.row))
    if not kept:
        return later
    # Most columns are update columns: copy the later row, then restore the few others.
    row = dict(later.row)
    for name in kept:
        row[name] = earlier.row[name]
    return Upsert(later.table, row, later.update)


@functools.cache
def _insert_only(update: tuple[str, ...], columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns an upsert writes only when it inserts its row."""
    updated = frozenset(update)
    return tuple(name for name in columns if name not in updated)


def _upsert_then_patch(upsert: Upsert, patch: Patch) -> Upsert | None:
    # Inserted, the row carries the patched values; already there, it takes them as updates.
    if not patch.values.keys() <= set(upsert.update):
        return None
    return Upsert(upsert.table, {**upsert.row, **patch.values}, upsert.update)


def _rewrites_whole_rows(op: ReplaceChildren) -> bool:
    """True when every column but the parent and child keys is overwritten, so that the
    later child set alone gives the same rows (surrogate ids aside)."""
    keys = {op.parent_column, op.key_column}
    return all(row.keys() - op.update <= keys for row in op.rows)


def _identity(op: Op) -> Hashable:
    match op:
        case Upsert():
            return _row_identity(op.table, _key_values(op.table)(op.row))
        case Patch():
            return ("patch", op.table.name, op.key)
        case Delete():
            return ("delete", op.table.name, op.key)
        case ReplaceChildren():
            return ("children", op.table.name, op.parent_key)


def _row_identity(table: sa.Table, key: tuple[object, ...]) -> Hashable:
    return ("row", table.name, key)


@functools.cache
def _key_values(table: sa.Table) -> Callable[[Mapping[str, object]], tuple[object, ...]]:
    """A row's values of the table's conflict key, as a tuple."""
    key = tuple(conflict_key(table))
    if len(key) == 1:
        (name,) = key
        return lambda row: (row[name],)
    return operator.itemgetter(*key)
