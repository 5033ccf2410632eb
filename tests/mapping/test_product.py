from __future__ import annotations

from analytics.mapping import map_event
from analytics.mapping.ops import Kind, ReplaceChildren, Upsert
from analytics.schema import product_variants, products
from tests.samples import event_from, sample_dict, sample_event


def test_snapshot_upserts_the_product_and_replaces_its_variants() -> None:
    change = map_event(sample_event("product.updated"))
    assert change.kind is Kind.SNAPSHOT
    upsert, variants = change.ops
    assert isinstance(upsert, Upsert)
    assert upsert.table is products
    assert {"product_id", "supplier_id", "created_at"}.isdisjoint(upsert.update)
    assert upsert.row["view_count"] == 45
    assert isinstance(variants, ReplaceChildren)
    assert variants.table is product_variants
    assert [row["variant_key"] for row in variants.rows] == ["xl-black", "small-green"]
    assert variants.rows[0]["attributes_json"] == [
        {"attribute_name": "Size", "attribute_value": "xl"},
        {"attribute_name": "Color", "attribute_value": "black"},
    ]
    assert variants.rows[0]["width_cm"] == 10.5


def test_variant_keys_differing_only_in_case_stay_distinct() -> None:
    envelope = sample_dict("product.created")
    variant = envelope["data"]["variants"]["xl-black"]
    envelope["data"]["variants"] = {"Red": variant, "red": variant, "réd": variant}
    (_, variants) = map_event(event_from(envelope)).ops
    assert isinstance(variants, ReplaceChildren)
    assert [row["variant_key"] for row in variants.rows] == ["Red", "red", "réd"]


def test_no_variants_means_remove_them_all() -> None:
    envelope = sample_dict("product.created")
    envelope["data"]["variants"] = {}
    (_, variants) = map_event(event_from(envelope)).ops
    assert isinstance(variants, ReplaceChildren)
    assert variants.rows == ()


def test_delete_is_a_hard_delete() -> None:
    change = map_event(sample_event("product.deleted"))
    assert change.kind is Kind.DELETE
    assert change.entity_id == "fbe840360c046d96cbfe2f8d"
