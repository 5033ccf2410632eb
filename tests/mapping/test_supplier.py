from __future__ import annotations

from analytics.mapping import map_event
from analytics.mapping.ops import Delete, Kind, Upsert
from analytics.schema import suppliers, tombstones
from tests.samples import sample_event


def test_snapshot_flattens_contact_company_and_business_info() -> None:
    change = map_event(sample_event("supplier.updated"))
    (upsert,) = change.ops
    assert isinstance(upsert, Upsert)
    assert set(upsert.row) == {column.name for column in suppliers.columns}
    assert upsert.row["dba_name"] == "Acme"
    assert upsert.row["city"] == "Tel Aviv"
    assert upsert.row["support_email"] == "help.6a1d@example.com"
    assert "supplier_id" not in upsert.update
    assert "created_at" not in upsert.update


def test_delete_removes_the_row_and_leaves_a_tombstone() -> None:
    event = sample_event("supplier.deleted")
    change = map_event(event)
    assert change.kind is Kind.DELETE
    delete, tombstone = change.ops
    assert delete == Delete(suppliers, "1dd377bf623d8eb7a4ca83b2")
    assert isinstance(tombstone, Upsert)
    assert tombstone.table is tombstones
    assert tombstone.row == {
        "entity_table": "suppliers",
        "entity_id": "1dd377bf623d8eb7a4ca83b2",
        "deleted_at": event.timestamp,
        "event_id": event.event_id,
    }
