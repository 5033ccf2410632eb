"""The row operations an event implies. Plain data: the mapping builds them, the DAL runs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa

from analytics.schema import tombstones

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Upsert:
    """Insert `row`; when its key already exists, overwrite only the `update` columns."""

    table: sa.Table
    row: Row
    update: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Patch:
    """Set `values` on the existing row whose primary key is `key`."""

    table: sa.Table
    key: str
    values: Row


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove the row whose primary key is `key`; child rows follow by FK cascade."""

    table: sa.Table
    key: str


@dataclass(frozen=True, slots=True)
class ReplaceChildren:
    """Make the child rows of one parent exactly `rows`, matched on `key_column`."""

    table: sa.Table
    parent_column: str
    parent_key: str
    key_column: str
    rows: tuple[Row, ...]
    update: tuple[str, ...]


Op = Upsert | Patch | Delete | ReplaceChildren


class Kind(Enum):
    SNAPSHOT = "snapshot"  # creates the entity or overwrites it
    PATCH = "patch"  # changes an entity that must already exist
    DELETE = "delete"  # removes the entity and remembers when


@dataclass(frozen=True, slots=True)
class Claim:
    """A unique business key the change needs: free, or already this entity's."""

    column: str
    value: str


@dataclass(frozen=True, slots=True)
class Change:
    """Everything one event does. `timestamp` is compared with the entity's last event's."""

    table: sa.Table
    entity_id: str
    timestamp: datetime
    kind: Kind
    ops: tuple[Op, ...]
    claim: Claim | None = None
    # With the timestamp, orders equal-timestamp versions of the entity (see dal.versions).
    event_id: str = field(kw_only=True)


def columns_except(table: sa.Table, *excluded: str) -> tuple[str, ...]:
    return tuple(column.name for column in table.columns if column.name not in excluded)


def event_columns(event_id: str, timestamp: datetime) -> dict[str, Any]:
    return {"event_id": event_id, "event_timestamp": timestamp}


def hard_delete(table: sa.Table, key: str, event_id: str, timestamp: datetime) -> tuple[Op, ...]:
    """Delete the row and leave a tombstone, so an older snapshot cannot bring it back."""
    tombstone = {
        "entity_table": table.name,
        "entity_id": key,
        "deleted_at": timestamp,
        "event_id": event_id,
    }
    return Delete(table, key), Upsert(tombstones, tombstone, ("deleted_at", "event_id"))
