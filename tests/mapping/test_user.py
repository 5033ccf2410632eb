from __future__ import annotations

from datetime import datetime

from analytics.mapping import map_event
from analytics.mapping.ops import Kind, Patch, Upsert
from analytics.schema import users
from tests.samples import event_from, sample_dict, sample_event


def test_snapshot_upserts_every_column_but_the_key_and_created_at() -> None:
    change = map_event(sample_event("user.created"))
    assert change.kind is Kind.SNAPSHOT
    assert (change.table, change.entity_id) == (users, "ec99108ddb5b5fab8f4d3e27")
    (upsert,) = change.ops
    assert isinstance(upsert, Upsert)
    assert set(upsert.row) == {column.name for column in users.columns}
    assert set(upsert.update) == set(upsert.row) - {"user_id", "created_at"}
    assert upsert.row["display_name"] == "Ravi Levi"
    assert upsert.row["event_timestamp"] == datetime(2025, 1, 15, 10, 30, 1, 953078)


def test_mapping_is_deterministic() -> None:
    assert map_event(sample_event("user.updated")) == map_event(sample_event("user.updated"))


def test_delete_is_a_patch_of_the_id_in_data() -> None:
    envelope = sample_dict("user.deleted")
    envelope["data"]["user_id"] = "aaaaaaaaaaaaaaaaaaaaaaaa"
    change = map_event(event_from(envelope))
    assert change.kind is Kind.PATCH
    assert change.entity_id == "aaaaaaaaaaaaaaaaaaaaaaaa"
    (patch,) = change.ops
    assert isinstance(patch, Patch)
    assert patch.values == {
        "deleted_at": change.timestamp,
        "event_id": envelope["event_id"],
        "event_timestamp": change.timestamp,
    }


def test_delete_without_id_in_data_targets_the_envelope_entity() -> None:
    envelope = sample_dict("user.deleted")
    envelope["data"] = {}
    assert map_event(event_from(envelope)).entity_id == envelope["entity_id"]
