"""Deciding a batch: which events apply, which are stale or rejected, and what to write.

`plan` is a pure function of the batch's changes and of what the database held for their
entities when the batch began (`State`): no I/O, no clock. It gives the same verdicts as
applying the events one at a time, in order:

- an event whose version (`versions.Version`: timestamp, then deletes last, then event id)
  is older than its entity's is stale and skipped; the same version applies again, so a
  redelivered event rewrites what it wrote;
- one that cannot apply (a soft delete or cancel of an unknown row, a unique key owned by
  another entity) is rejected with its reason;
- the rest are accepted, and each entity's accepted changes are folded into as few as have
  the same effect (`combine`), then laid out in rounds: round k holds each entity's k-th
  change, so that within a round no two changes touch one entity and each round can go
  out as one multi-row statement per table and operation.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from analytics.dal.combine import combine
from analytics.dal.versions import Version, version_of
from analytics.errors import InvalidEvent, Reason
from analytics.mapping.ops import Change, Kind
from analytics.secrets import DEFAULT_SECRETS, SecretNames, shown

EntityKey = tuple[str, str]  # (table name, entity id)


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


@dataclass
class Entity:
    """What the database holds for one entity."""

    exists: bool
    version: Version | None  # the last applied event's, or its tombstone's
    # Its row existed when read, so this transaction holds the row's lock and no other
    # writer can change it until commit. An absent row is not locked by the read.
    locked: bool = False


@dataclass
class State:
    """The entities of one batch, and the owners of the unique keys it claims."""

    entities: dict[EntityKey, Entity] = field(default_factory=dict)
    owners: dict[tuple[str, str, str], str] = field(default_factory=dict)


@dataclass
class Plan:
    result: ApplyResult
    rounds: list[list[Change]]
    # Entities whose row no lock protected when the batch read it: their writes must be
    # checked afterwards (a concurrent writer may have won).
    unlocked: frozenset[EntityKey]


_STALE = object()


def plan(changes: Sequence[Change], state: State, secrets: SecretNames = DEFAULT_SECRETS) -> Plan:
    """The verdict on each change and the rounds of writes, given `state` (not changed).

    Rejection reasons show ids and keys only as `secrets.shown` allows."""
    entities = {key: dataclasses.replace(entity) for key, entity in state.entities.items()}
    deciding = State(entities, dict(state.owners))
    result = ApplyResult()
    accepted: dict[EntityKey, list[Change]] = defaultdict(list)
    for index, change in enumerate(changes):
        verdict = _decide(deciding, change, secrets)
        if isinstance(verdict, InvalidEvent):
            result.rejected.append(Rejection(index, verdict))
        elif verdict is _STALE:
            result.stale.append(index)
        else:
            _add_combined(accepted[change.table.name, change.entity_id], change)
            result.applied.append(index)
    unlocked = frozenset(key for key in accepted if not state.entities[key].locked)
    return Plan(result, _rounds(list(accepted.values())), unlocked)


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


def _decide(state: State, change: Change, secrets: SecretNames) -> object:
    """None (accepted), _STALE or the InvalidEvent that rejects `change`; advances `state`."""
    table = change.table.name
    entity = state.entities[table, change.entity_id]
    version = version_of(change)
    if entity.version is not None and version < entity.version:
        return _STALE
    if change.kind is Kind.PATCH and not entity.exists:
        return InvalidEvent(
            Reason.UNKNOWN_ENTITY, f"{table} row {shown(change.entity_id, secrets)} does not exist"
        )
    if change.claim is not None:
        conflict = _claim_conflict(state, change, entity, secrets)
        if conflict is not None:
            return conflict
    if change.kind is Kind.SNAPSHOT and not entity.exists and change.claim is not None:
        state.owners[table, change.claim.column, change.claim.value] = change.entity_id
    entity.exists = change.kind is not Kind.DELETE
    entity.version = version
    return None


def _claim_conflict(
    state: State, change: Change, entity: Entity, secrets: SecretNames
) -> InvalidEvent | None:
    assert change.claim is not None
    table, column, value = change.table.name, change.claim.column, change.claim.value
    owner = state.owners.get((table, column, value))
    if change.kind is Kind.PATCH and owner != change.entity_id:
        held = f"belongs to {shown(owner, secrets)}" if owner else "belongs to no row"
        return InvalidEvent(
            Reason.KEY_CONFLICT,
            f"{table}.{column} {shown(value, secrets)} {held},"
            f" not to {shown(change.entity_id, secrets)}",
        )
    if change.kind is Kind.SNAPSHOT and not entity.exists and owner not in (None, change.entity_id):
        return InvalidEvent(
            Reason.KEY_CONFLICT,
            f"{table}.{column} {shown(value, secrets)} already belongs to"
            f" {shown(owner, secrets)}; refusing to merge {shown(change.entity_id, secrets)}"
            " into it",
        )
    return None
