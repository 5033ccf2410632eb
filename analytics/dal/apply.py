"""`apply`: a batch of decoded events → rows, in the caller's transaction.

The result is the same as applying the events one by one in order. Three steps:

1. **read** (`load_state`): the stored version of every entity the batch touches (rows
   that exist are locked), the tombstones of hard-deleted ones and the owners of the
   unique keys the batch claims;
2. **plan** (`plan.plan`, pure): verdicts, folding and rounds;
3. **write** (`write`): each round as multi-row statements, parents before children.

The writes do not trust the read: every write of a versioned row carries the version
guard in its statement, so a concurrent writer that read the same absent row cannot put
an older version over a newer one. For entities whose row was absent when read (nothing
locked it), the writer then checks what it achieved: child rows (variants, order items)
are written only for parents whose stored version is this batch's — the parent's winning
version decides its children — and a row inserted while a concurrent delete left a newer
tombstone is deleted again.

If the server still refuses a row (a data error the models did not foresee, or a row
larger than any statement the server accepts), the batch is rolled back to its savepoint
and replayed one event at a time, each in its own savepoint, so that only the offending
events are rejected. Transient errors propagate to the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from analytics.dal import statements
from analytics.dal.plan import ApplyResult, Entity, EntityKey, Plan, Rejection, State, plan
from analytics.dal.statements import StatementTooLarge
from analytics.dal.versions import TOMBSTONED, Version, version_of
from analytics.db import is_data_error
from analytics.errors import InvalidEvent, Reason
from analytics.events import Event
from analytics.mapping import map_event
from analytics.mapping.ops import Change, Delete, Kind, Op, Patch, ReplaceChildren, Upsert
from analytics.schema import metadata, tombstones
from analytics.secrets import DEFAULT_SECRETS, SecretNames, shown_server_message

_TABLE_ORDER = {table.name: position for position, table in enumerate(metadata.sorted_tables)}

__all__ = ["ApplyResult", "Rejection", "apply", "apply_changes", "describe_database_error"]


def apply(
    connection: sa.Connection, events: Sequence[Event], secrets: SecretNames = DEFAULT_SECRETS
) -> ApplyResult:
    """Apply `events` in order inside the caller's transaction; return what happened.

    Rejection reasons show ids and keys only as `secrets.shown` allows, given `secrets`.
    """
    return apply_changes(connection, [map_event(event) for event in events], secrets)


def apply_changes(
    connection: sa.Connection, changes: Sequence[Change], secrets: SecretNames = DEFAULT_SECRETS
) -> ApplyResult:
    """`apply` for events already mapped to their changes."""
    try:
        return _in_savepoint(connection, changes, secrets)
    except (sa.exc.DBAPIError, StatementTooLarge) as exc:
        if _refusal(exc, secrets) is None:
            raise
    return _apply_one_by_one(connection, changes, secrets)


def _apply_one_by_one(
    connection: sa.Connection, changes: Sequence[Change], secrets: SecretNames
) -> ApplyResult:
    result = ApplyResult()
    for index, change in enumerate(changes):
        try:
            single = _in_savepoint(connection, [change], secrets)
        except (sa.exc.DBAPIError, StatementTooLarge) as exc:
            refusal = _refusal(exc, secrets)
            if refusal is None:
                raise
            result.rejected.append(Rejection(index, refusal))
            continue
        result.extend(single, offset=index)
    return result


def _refusal(exc: Exception, secrets: SecretNames) -> InvalidEvent | None:
    """The dead-letter reason when the server refused the data itself, else None."""
    if isinstance(exc, StatementTooLarge):
        return InvalidEvent(Reason.TOO_LARGE, str(exc))
    if isinstance(exc, sa.exc.DBAPIError) and is_data_error(exc):
        return InvalidEvent(Reason.DATABASE_REJECTED, describe_database_error(exc, secrets))
    return None


def _in_savepoint(
    connection: sa.Connection, changes: Sequence[Change], secrets: SecretNames
) -> ApplyResult:
    """`_apply_changes` undone to a savepoint if the server refuses a row.

    Any other error (a deadlock, a lost connection) leaves the transaction to the caller
    as it is: the server may have rolled it back whole, savepoint included, and rolling
    back to that savepoint would replace the real error with "savepoint does not exist".
    """
    savepoint = connection.begin_nested()
    try:
        result = _apply_changes(connection, changes, secrets)
    except (sa.exc.DBAPIError, StatementTooLarge) as exc:
        if _refusal(exc, secrets) is not None:
            savepoint.rollback()
        raise
    savepoint.commit()
    return result


def describe_database_error(exc: sa.exc.DBAPIError, secrets: SecretNames) -> str:
    """The server's own message (codes, column and key names), without the SQL or params,
    and with the values it quotes shown only as `secrets.shown` allows."""
    orig = exc.orig
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"({args[0]}) {shown_server_message(args[1], secrets)}"[:1000]
    return shown_server_message(str(orig), secrets)[:1000]


def _apply_changes(
    connection: sa.Connection, changes: Sequence[Change], secrets: SecretNames
) -> ApplyResult:
    planned = plan(changes, load_state(connection, changes), secrets)
    write(connection, planned)
    return planned.result


# --- read -----------------------------------------------------------------------------


def load_state(connection: sa.Connection, changes: Sequence[Change]) -> State:
    """What the database holds for the batch's entities; existing rows are locked."""
    state = State()
    keys: dict[sa.Table, set[str]] = defaultdict(set)
    claims: dict[sa.Table, tuple[str, set[str]]] = {}
    for change in changes:
        keys[change.table].add(change.entity_id)
        if change.claim is not None:
            claims.setdefault(change.table, (change.claim.column, set()))[1].add(change.claim.value)
    for table, table_keys in keys.items():
        claim_column, claimed = claims.get(table, (None, set()))
        _load_table(connection, state, table, sorted(table_keys), claim_column, sorted(claimed))
    return state


def _load_table(
    connection: sa.Connection,
    state: State,
    table: sa.Table,
    keys: list[str],
    claim_column: str | None,
    claimed: list[str],
) -> None:
    deleted: dict[str, Version] = {}
    if table.name in TOMBSTONED:
        deleted = statements.read_tombstones(connection, tombstones, table.name, keys)
    for key in keys:
        state.entities[table.name, key] = Entity(exists=False, version=deleted.get(key))
    for found in statements.read_versions(connection, table, keys, claim_column, claimed):
        state.entities[table.name, found.key] = Entity(True, found.version, locked=True)
        if claim_column is not None and found.claim is not None:
            state.owners[table.name, claim_column, found.claim] = found.key


# --- write ----------------------------------------------------------------------------


def write(connection: sa.Connection, planned: Plan) -> None:
    for round_changes in planned.rounds:
        _write_round(connection, round_changes, planned.unlocked)
    _delete_rows_a_concurrent_delete_outdated(connection, planned)


def _write_round(
    connection: sa.Connection, changes: list[Change], unlocked: frozenset[EntityKey]
) -> None:
    """One round: tombstones, deletes and parent rows, then the children of the parents
    whose stored version is now this batch's."""
    parents: list[tuple[Change, Op]] = []
    children: dict[int, list[Op]] = {}
    for change in changes:
        for op in change.ops:
            if op.table is change.table or op.table is tombstones:
                parents.append((change, op))
            else:
                children.setdefault(id(change), []).append(op)
    _write_parents(connection, parents)
    with_children = [change for change in changes if id(change) in children]
    winners = _won(connection, with_children, unlocked)
    _write_children(connection, [op for c in winners for op in children[id(c)]])


def _write_parents(connection: sa.Connection, ops: list[tuple[Change, Op]]) -> None:
    deletes: dict[sa.Table, list[tuple[str, Version]]] = defaultdict(list)
    upserts: dict[tuple[sa.Table, tuple[str, ...]], list[Any]] = defaultdict(list)
    patches: dict[sa.Table, list[tuple[str, Any]]] = defaultdict(list)
    for change, op in ops:
        match op:
            case Delete():
                deletes[op.table].append((op.key, version_of(change)))
            case Upsert():
                upserts[op.table, op.update].append(op.row)
            case Patch():
                patches[op.table].append((op.key, op.values))
    # Tombstones before the deletes: a concurrent writer that inserts a row after its
    # delete ran finds the tombstone when it checks (_delete_rows_a_concurrent_...).
    for (table, update), rows in list(upserts.items()):
        if table is tombstones:
            statements.execute_upsert(
                connection, table, statements.in_key_order(table, rows), update
            )
            del upserts[table, update]
    for table in _parents_first(deletes):
        statements.delete_versioned(connection, table, deletes[table])
    writes: list[tuple[sa.Table, tuple[str, ...]]] = list(upserts)
    writes += [(table, ()) for table in patches]
    for table, update in sorted(writes, key=lambda write: _TABLE_ORDER[write[0].name]):
        if (table, update) in upserts:
            statements.execute_upsert(
                connection, table, statements.in_key_order(table, upserts[table, update]), update
            )
        else:
            statements.patch_rows(connection, table, patches[table])


def _won(
    connection: sa.Connection, changes: list[Change], unlocked: frozenset[EntityKey]
) -> list[Change]:
    """The changes whose parent row now holds their version. Only rows absent when read
    can have been taken by a concurrent writer: locked ones are this transaction's."""
    unchecked = [c for c in changes if (c.table.name, c.entity_id) in unlocked]
    if not unchecked:
        return changes
    lost: set[int] = set()
    by_table: dict[sa.Table, list[Change]] = defaultdict(list)
    for change in unchecked:
        by_table[change.table].append(change)
    for table, table_changes in by_table.items():
        keys = sorted({change.entity_id for change in table_changes})
        stored = statements.read_written_versions(connection, table, keys)
        lost |= {
            id(change)
            for change in table_changes
            if stored.get(change.entity_id) != (change.timestamp, change.event_id)
        }
    return [change for change in changes if id(change) not in lost]


def _write_children(connection: sa.Connection, ops: list[Op]) -> None:
    upserts: dict[tuple[sa.Table, tuple[str, ...]], list[Any]] = defaultdict(list)
    replacements: dict[sa.Table, list[ReplaceChildren]] = defaultdict(list)
    for op in ops:
        if isinstance(op, ReplaceChildren):
            replacements[op.table].append(op)
        elif isinstance(op, Upsert):
            upserts[op.table, op.update].append(op.row)
        else:
            raise TypeError(f"unexpected child operation {type(op).__name__}")
    for table in _parents_first(replacements):
        _replace_children(connection, replacements[table])
    for (table, update), rows in sorted(upserts.items(), key=lambda u: _TABLE_ORDER[u[0][0].name]):
        statements.execute_upsert(connection, table, statements.in_key_order(table, rows), update)


def _replace_children(connection: sa.Connection, ops: list[ReplaceChildren]) -> None:
    """Delete the children whose key the new sets lack, then upsert the new sets.

    The current children are read and the others deleted by id: a NOT IN list of every
    kept key would grow with the batch past any statement size."""
    first = ops[0]
    keep = {op.parent_key: {row[op.key_column] for row in op.rows} for op in ops}
    current = statements.existing_children(
        connection, first.table, first.parent_column, first.key_column, sorted(keep)
    )
    gone = sorted(row_id for row_id, parent, key in current if key not in keep[parent])
    statements.delete_by_ids(connection, first.table, gone)
    rows = [row for op in ops for row in op.rows]
    statements.execute_upsert(
        connection, first.table, statements.in_key_order(first.table, rows), first.update
    )


def _delete_rows_a_concurrent_delete_outdated(connection: sa.Connection, planned: Plan) -> None:
    """Rows this batch created for entities a concurrent transaction hard-deleted with a
    newer version: the delete ran before the insert, so it could not remove the row.

    The tombstones are read with a locking read, which waits for tombstones still being
    written; a delete that writes its tombstone after this read finds the row and its
    own guarded delete removes it."""
    final: dict[EntityKey, Change] = {}
    for round_changes in planned.rounds:
        for change in round_changes:
            final[change.table.name, change.entity_id] = change
    created: dict[sa.Table, list[Change]] = defaultdict(list)
    for key, change in final.items():
        if key in planned.unlocked and key[0] in TOMBSTONED and change.kind is Kind.SNAPSHOT:
            created[change.table].append(change)
    for table, table_changes in created.items():
        keys = sorted(change.entity_id for change in table_changes)
        deleted = statements.read_tombstones(connection, tombstones, table.name, keys, lock=True)
        outdated = [
            (change.entity_id, deleted[change.entity_id])
            for change in table_changes
            if change.entity_id in deleted and deleted[change.entity_id] > version_of(change)
        ]
        if outdated:
            statements.delete_versioned(connection, table, outdated)


def _parents_first(tables: dict[sa.Table, Any]) -> list[sa.Table]:
    return sorted(tables, key=lambda table: _TABLE_ORDER[table.name])
