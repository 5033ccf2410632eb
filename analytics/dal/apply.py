"""`apply`: a batch of decoded events → rows, in the caller's transaction.

The result is the same as applying the events one by one in order:

1. Read, and lock, the current version (`event_timestamp`) of every entity the batch
   touches, the owners of the unique keys it claims, and the tombstones of deleted rows.
2. Walk the events in order against that state: an event older than its entity's version
   is stale and skipped; one that cannot apply (delete of an unknown row, a unique key
   owned by another entity) is rejected with its reason; the rest are accepted.
3. Fold each entity's accepted changes into as few as have the same effect (usually one;
   see `combine`), then write them in rounds: round k holds each entity's k-th change.
   Changes to different entities commute, so each round goes out as one multi-row
   statement per table and operation, parents before children.

If the server still refuses a row (a data error the models did not foresee), the batch is
rolled back to its savepoint and replayed one event at a time, each in its own savepoint,
so that only the offending events are rejected. Transient errors propagate to the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from analytics.dal import statements
from analytics.dal.combine import combine
from analytics.db import is_data_error
from analytics.errors import InvalidEvent, Reason
from analytics.events import Event
from analytics.mapping import map_event
from analytics.mapping.ops import Change, Delete, Kind, Op, Patch, ReplaceChildren, Upsert
from analytics.schema import metadata, tombstones
from analytics.secrets import DEFAULT_SECRETS, SecretNames, shown, shown_server_message

_TABLE_ORDER = {table.name: position for position, table in enumerate(metadata.sorted_tables)}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Event `index` of the batch could not be applied, and why."""

    index: int
    error: InvalidEvent


@dataclass
class ApplyResult:
    applied: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def extend(self, other: ApplyResult, offset: int) -> None:
        self.applied += [offset + i for i in other.applied]
        self.stale += [offset + i for i in other.stale]
        self.rejected += [Rejection(offset + r.index, r.error) for r in other.rejected]


def apply(
    connection: sa.Connection, events: Sequence[Event], secrets: SecretNames = DEFAULT_SECRETS
) -> ApplyResult:
    """Apply `events` in order inside the caller's transaction; return what happened.

    Rejection reasons show ids and keys only as `shown` allows, given the `secrets` names.
    """
    changes = [map_event(event) for event in events]
    try:
        return _in_savepoint(connection, changes, secrets)
    except sa.exc.DBAPIError as exc:
        if not is_data_error(exc):
            raise
    return _apply_one_by_one(connection, changes, secrets)


def _apply_one_by_one(
    connection: sa.Connection, changes: Sequence[Change], secrets: SecretNames
) -> ApplyResult:
    result = ApplyResult()
    for index, change in enumerate(changes):
        try:
            single = _in_savepoint(connection, [change], secrets)
        except sa.exc.DBAPIError as exc:
            if not is_data_error(exc):
                raise
            error = InvalidEvent(Reason.DATABASE_REJECTED, describe_database_error(exc, secrets))
            result.rejected.append(Rejection(index, error))
            continue
        result.extend(single, offset=index)
    return result


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
    except sa.exc.DBAPIError as exc:
        if is_data_error(exc):
            savepoint.rollback()
        raise
    savepoint.commit()
    return result


def describe_database_error(exc: sa.exc.DBAPIError, secrets: SecretNames) -> str:
    """The server's own message (codes, column and key names), without the SQL or params,
    and with the values it quotes shown only as `shown` allows."""
    orig = exc.orig
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"({args[0]}) {shown_server_message(args[1], secrets)}"[:1000]
    return shown_server_message(str(orig), secrets)[:1000]


def _apply_changes(
    connection: sa.Connection, changes: Sequence[Change], secrets: SecretNames
) -> ApplyResult:
    state = _State.load(connection, changes, secrets)
    result = ApplyResult()
    accepted: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for index, change in enumerate(changes):
        verdict = state.decide(change)
        if isinstance(verdict, InvalidEvent):
            result.rejected.append(Rejection(index, verdict))
            continue
        if verdict is _STALE:
            result.stale.append(index)
            continue
        _add_combined(accepted[change.table.name, change.entity_id], change)
        result.applied.append(index)
    for round_changes in _rounds(list(accepted.values())):
        _write_round(connection, [op for change in round_changes for op in change.ops])
    return result


def _add_combined(entity_changes: list[Change], change: Change) -> None:
    combined = combine(entity_changes[-1], change) if entity_changes else None
    if combined is None:
        entity_changes.append(change)
    else:
        entity_changes[-1] = combined


def _rounds(per_entity: list[list[Change]]) -> list[list[Change]]:
    """Round k holds each entity's k-th change: within a round no two touch one entity."""
    depth = max(map(len, per_entity), default=0)
    return [
        [changes[position] for changes in per_entity if position < len(changes)]
        for position in range(depth)
    ]


_STALE = object()
_ACCEPT = object()


@dataclass
class _Entity:
    exists: bool
    version: datetime | None  # the last applied event's timestamp, or the tombstone's


class _State:
    """What the database holds for the entities of one batch, advanced event by event."""

    def __init__(self, secrets: SecretNames) -> None:
        self.secrets = secrets
        self.entities: dict[tuple[str, str], _Entity] = {}
        self.owners: dict[tuple[str, str, str], str] = {}

    @classmethod
    def load(
        cls, connection: sa.Connection, changes: Sequence[Change], secrets: SecretNames
    ) -> _State:
        state = cls(secrets)
        keys: dict[sa.Table, set[str]] = defaultdict(set)
        claims: dict[tuple[sa.Table, str], set[str]] = defaultdict(set)
        for change in changes:
            keys[change.table].add(change.entity_id)
            if change.claim is not None:
                claims[change.table, change.claim.column].add(change.claim.value)
        for table, table_keys in keys.items():
            state._load_table(connection, table, table_keys, claims)
        return state

    def _load_table(
        self,
        connection: sa.Connection,
        table: sa.Table,
        keys: set[str],
        claims: dict[tuple[sa.Table, str], set[str]],
    ) -> None:
        claim_column = next((column for t, column in claims if t is table), None)
        claimed = sorted(claims.get((table, claim_column), ())) if claim_column else []
        ordered_keys = sorted(keys)
        deleted = statements.read_tombstones(connection, tombstones, table.name, ordered_keys)
        for key in ordered_keys:
            self.entities[table.name, key] = _Entity(exists=False, version=deleted.get(key))
        found = statements.read_versions(connection, table, ordered_keys, claim_column, claimed)
        for key, version, claim in found:
            self.entities[table.name, key] = _Entity(exists=True, version=version)
            if claim_column is not None and claim is not None:
                self.owners[table.name, claim_column, claim] = key

    def decide(self, change: Change) -> object:
        """_ACCEPT, _STALE or the InvalidEvent that rejects `change`; advances the state."""
        table = change.table.name
        entity = self.entities[table, change.entity_id]
        if entity.version is not None and change.timestamp < entity.version:
            return _STALE
        if change.kind is Kind.PATCH and not entity.exists:
            return InvalidEvent(
                Reason.UNKNOWN_ENTITY, f"{table} row {self._shown(change.entity_id)} does not exist"
            )
        if change.claim is not None:
            conflict = self._claim_conflict(change, entity)
            if conflict is not None:
                return conflict
        if change.kind is Kind.SNAPSHOT and not entity.exists and change.claim is not None:
            self.owners[table, change.claim.column, change.claim.value] = change.entity_id
        entity.exists = change.kind is not Kind.DELETE
        entity.version = change.timestamp
        return _ACCEPT

    def _claim_conflict(self, change: Change, entity: _Entity) -> InvalidEvent | None:
        assert change.claim is not None
        table, column, value = change.table.name, change.claim.column, change.claim.value
        owner = self.owners.get((table, column, value))
        shown_key, claimant = self._shown(value), self._shown(change.entity_id)
        if change.kind is Kind.PATCH and owner != change.entity_id:
            held = f"belongs to {self._shown(owner)}" if owner else "belongs to no row"
            return InvalidEvent(
                Reason.KEY_CONFLICT, f"{table}.{column} {shown_key} {held}, not to {claimant}"
            )
        if (
            change.kind is Kind.SNAPSHOT
            and not entity.exists
            and owner not in (None, change.entity_id)
        ):
            return InvalidEvent(
                Reason.KEY_CONFLICT,
                f"{table}.{column} {shown_key} already belongs to {self._shown(owner)}; "
                f"refusing to merge {claimant} into it",
            )
        return None

    def _shown(self, value: object) -> str:
        return shown(value, self.secrets)


def _write_round(connection: sa.Connection, ops: list[Op]) -> None:
    """Write one round's operations grouped into multi-row statements, parents first."""
    deletes: dict[sa.Table, list[str]] = defaultdict(list)
    upserts: dict[tuple[sa.Table, tuple[str, ...]], list[Any]] = defaultdict(list)
    patches: dict[sa.Table, list[tuple[str, Any]]] = defaultdict(list)
    replacements: dict[sa.Table, list[ReplaceChildren]] = defaultdict(list)
    for op in ops:
        match op:
            case Delete():
                deletes[op.table].append(op.key)
            case Upsert():
                upserts[op.table, op.update].append(op.row)
            case Patch():
                patches[op.table].append((op.key, op.values))
            case ReplaceChildren():
                replacements[op.table].append(op)
    for table in _parents_first(deletes):
        statements.delete_by_keys(connection, table, deletes[table])
    writes = [(table, "upsert", update) for table, update in upserts]
    writes += [(table, "patch", ()) for table in patches]
    writes += [(table, "replace", ()) for table in replacements]
    for table, kind, update in sorted(writes, key=lambda w: _TABLE_ORDER[w[0].name]):
        if kind == "upsert":
            statements.execute_upsert(connection, table, upserts[table, update], update)
        elif kind == "patch":
            statements.patch_rows(connection, table, patches[table])
        else:
            _replace_children(connection, replacements[table])


def _replace_children(connection: sa.Connection, ops: list[ReplaceChildren]) -> None:
    first = ops[0]
    keep = {op.parent_key: [row[op.key_column] for row in op.rows] for op in ops}
    statements.delete_children_except(
        connection, first.table, first.parent_column, first.key_column, keep
    )
    rows = [row for op in ops for row in op.rows]
    statements.execute_upsert(connection, first.table, rows, first.update)


def _parents_first(tables: dict[sa.Table, Any]) -> list[sa.Table]:
    return sorted(tables, key=lambda table: _TABLE_ORDER[table.name])
