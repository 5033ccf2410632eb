"""Decoding bytes into typed events: what is accepted, and how everything else is refused."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import pytest

from analytics.errors import InvalidEvent, Reason
from analytics.events import EVENT_TYPES, decode_event
from analytics.events.order import OrderCreated
from analytics.events.post import PostSnapshot
from analytics.events.supplier import SupplierSnapshot
from analytics.events.user import UserSnapshot
from analytics.secrets import secret_names
from tests.samples import all_sample_types, encode, sample_bytes, sample_dict

SECRETS = ("$2b$12$", "First Bank", "4242", "account_holder_name")


def refused(envelope: dict[str, Any] | bytes) -> InvalidEvent:
    raw = envelope if isinstance(envelope, bytes) else encode(envelope)
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    return caught.value


def test_there_are_19_event_types_and_a_sample_of_each() -> None:
    assert len(EVENT_TYPES) == 19
    assert sorted(EVENT_TYPES) == all_sample_types()


@pytest.mark.parametrize("event_type", all_sample_types())
def test_every_sample_decodes_to_its_type(event_type: str) -> None:
    event = decode_event(sample_bytes(event_type))
    assert event.event_type == event_type
    assert event.entity_id == sample_dict(event_type)["entity_id"]


@pytest.mark.parametrize("event_type", ["user.created", "supplier.updated"])
def test_secrets_never_reach_the_model(event_type: str) -> None:
    event = decode_event(sample_bytes(event_type))
    dumped = event.model_dump_json()
    assert "password_hash" not in dumped
    assert "banking_info" not in dumped
    assert not any(secret in dumped for secret in SECRETS)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2025-01-15T10:30:01.953078Z", datetime(2025, 1, 15, 10, 30, 1, 953078)),
        ("2025-01-15T10:30:01.953078+00:00", datetime(2025, 1, 15, 10, 30, 1, 953078)),
        ("2025-01-15T12:30:01.953078+02:00", datetime(2025, 1, 15, 10, 30, 1, 953078)),
        ("2025-01-15T05:00:00-05:30", datetime(2025, 1, 15, 10, 30, 0)),
        ("2025-01-15T10:30:01Z", datetime(2025, 1, 15, 10, 30, 1)),
        ("2025-01-15T10:30:01", datetime(2025, 1, 15, 10, 30, 1)),
        ("2025-01-01T01:00:00+02:00", datetime(2024, 12, 31, 23, 0, 0)),
    ],
)
def test_timestamps_become_the_same_instant_in_utc(stamp: str, expected: datetime) -> None:
    envelope = sample_dict("user.created")
    envelope["timestamp"] = stamp
    envelope["data"]["created_at"] = stamp
    event = decode_event(encode(envelope))
    assert isinstance(event, UserSnapshot)
    assert event.timestamp == expected
    assert event.data.created_at == expected
    assert event.timestamp.tzinfo is None


def test_display_name_over_its_column_names_event_field_and_limit() -> None:
    envelope = sample_dict("user.created")
    envelope["data"]["profile"]["display_name"] = "x" * 101
    error = refused(envelope)
    assert error.reason is Reason.INVALID_PAYLOAD
    assert "user.created" in error.detail
    assert "profile.display_name" in error.detail
    assert "100" in error.detail


def test_display_name_at_its_limit_counts_characters_not_bytes() -> None:
    envelope = sample_dict("user.created")
    envelope["data"]["profile"]["display_name"] = "😀" * 100
    event = decode_event(encode(envelope))
    assert isinstance(event, UserSnapshot)
    assert event.data.profile.display_name == "😀" * 100


def test_text_is_limited_in_utf8_bytes() -> None:
    envelope = sample_dict("post.created")
    envelope["data"]["text_content"] = "é" * 40_000  # 80,000 bytes
    error = refused(envelope)
    assert error.reason is Reason.INVALID_PAYLOAD
    assert "text_content" in error.detail
    assert "65535" in error.detail


def test_validation_messages_never_echo_payload_values() -> None:
    envelope = sample_dict("supplier.created")
    envelope["data"]["company_info"]["legal_name"] = None
    envelope["data"]["contact_info"]["primary_email"] = 12345
    error = refused(envelope)
    assert error.reason is Reason.INVALID_PAYLOAD
    text = str(error)
    assert "legal_name" in text
    assert not any(secret in text for secret in SECRETS)
    assert "Rossi" not in text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe\x00garbage", Reason.UNDECODABLE),
        (b'{"event_type": "user.created", ', Reason.UNDECODABLE),
        (b'{"text": "\\ud800"}', Reason.UNDECODABLE),
        (b"[1, 2, 3]", Reason.NOT_AN_OBJECT),
        (b'"user.created"', Reason.NOT_AN_OBJECT),
        (b'{"entity_id": "a"}', Reason.INVALID_ENVELOPE),
        (b'{"event_type": "user.exploded", "data": {}}', Reason.UNKNOWN_EVENT_TYPE),
    ],
)
def test_malformed_messages_have_a_reason(raw: bytes, reason: Reason) -> None:
    assert refused(raw).reason is reason


@pytest.mark.parametrize("text", ['"\ud800"', '{"event_type": "user.created", "x": "\ud800"}'])
def test_text_with_a_lone_surrogate_is_undecodable(text: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(text)
    assert caught.value.reason is Reason.UNDECODABLE


@pytest.mark.parametrize("field", ["event_id", "timestamp", "entity_id"])
def test_missing_envelope_fields_are_envelope_errors(field: str) -> None:
    envelope = sample_dict("user.created")
    del envelope[field]
    error = refused(envelope)
    assert error.reason is Reason.INVALID_ENVELOPE
    assert field in error.detail


def test_an_entity_id_longer_than_its_column_is_refused() -> None:
    envelope = sample_dict("user.deleted")
    envelope["entity_id"] = "a" * 25
    assert refused(envelope).reason is Reason.INVALID_ENVELOPE


def test_a_document_about_another_entity_is_refused() -> None:
    envelope = sample_dict("product.created")
    envelope["data"]["id"] = "000000000000000000000000"
    error = refused(envelope)
    assert error.reason is Reason.ENTITY_MISMATCH
    assert envelope["entity_id"] in error.detail


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "base_price_cents"), 2**31),
        (("data", "base_price_cents"), "8312"),
        (("data", "base_price_cents"), True),
        (("data", "base_price_cents"), 83.12),
        (("data", "name"), None),
        (("data", "created_at"), "2025-13-45T00:00:00Z"),
        (("data", "created_at"), "0999-12-31T00:00:00Z"),
        (("data", "updated_at"), "9999-12-31T23:00:00-05:00"),
    ],
)
def test_wrong_types_and_out_of_range_values_are_refused(path: tuple[str, ...], value: Any) -> None:
    envelope = sample_dict("product.created")
    target = envelope
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    error = refused(envelope)
    assert error.reason is Reason.INVALID_PAYLOAD
    assert path[-1] in error.detail


def test_not_a_number_is_refused_in_doubles_and_in_json_columns() -> None:
    raw = sample_bytes("product.created").replace(b'"width_cm": 10.5', b'"width_cm": NaN')
    assert refused(raw).reason is Reason.INVALID_PAYLOAD
    envelope = sample_dict("post.created")
    raw = encode(envelope).replace(b'"width": 1080', b'"width": Infinity')
    error = refused(raw)
    assert error.reason is Reason.INVALID_PAYLOAD
    assert "media" in error.detail


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_json_nested_deeper_than_the_databases_accept_is_refused() -> None:
    envelope = sample_dict("post.created")
    envelope["data"]["media"] = nested(31)  # the media list itself is one of the 31
    decode_event(encode(envelope))
    envelope["data"]["media"] = nested(32)
    error = refused(envelope)
    assert error.reason is Reason.INVALID_PAYLOAD
    assert "31" in error.detail


def test_two_items_with_one_item_id_are_refused() -> None:
    envelope = sample_dict("order.created")
    envelope["data"]["items"][1]["item_id"] = envelope["data"]["items"][0]["item_id"]
    error = refused(envelope)
    assert error.reason is Reason.INVALID_PAYLOAD
    assert "item_1" in error.detail


def test_extra_fields_are_ignored_and_defaults_follow_the_contract() -> None:
    envelope = sample_dict("order.created")
    envelope["data"]["brand_new_field"] = {"nested": True}
    del envelope["data"]["status"]
    for item in envelope["data"]["items"]:
        del item["fulfillment_status"]
        del item["shipped_quantity"]
    event = decode_event(encode(envelope))
    assert isinstance(event, OrderCreated)
    assert event.data.status == "pending"
    assert {item.fulfillment_status for item in event.data.items} == {"pending"}
    assert {item.shipped_quantity for item in event.data.items} == {0}


def test_optional_sections_may_be_absent_or_null() -> None:
    supplier = sample_dict("supplier.created")
    supplier["data"]["business_info"] = None
    supplier["data"]["company_info"]["business_address"] = None
    assert isinstance(decode_event(encode(supplier)), SupplierSnapshot)
    post = sample_dict("post.created")
    del post["data"]["link_preview"]
    del post["data"]["stats"]
    decoded = decode_event(encode(post))
    assert isinstance(decoded, PostSnapshot)
    assert decoded.data.link_preview is None
    assert decoded.data.stats.view_count == 0


def test_delete_payload_may_be_empty_and_falls_back_to_entity_id() -> None:
    envelope = copy.deepcopy(sample_dict("user.deleted"))
    envelope["data"] = {}
    event = decode_event(json.dumps(envelope))
    assert event.event_type == "user.deleted"


def test_a_string_where_an_object_belongs_is_a_payload_error() -> None:
    envelope = sample_dict("user.created")
    envelope["data"]["contact_info"] = "ravi@example.com"
    error = refused(envelope)
    assert error.reason is Reason.INVALID_PAYLOAD
    assert "contact_info" in error.detail


# --- reasons show payload values only as identifiers ------------------------------------------


def test_an_unknown_event_type_is_named_only_when_it_is_an_identifier() -> None:
    envelope = sample_dict("user.created")
    envelope["event_type"] = "user.exploded"
    assert refused(envelope).detail == "unknown event_type user.exploded"
    envelope["event_type"] = "user.password=hunter2"
    assert refused(envelope).detail == "unknown event_type <21 characters>"
    envelope["event_type"] = "user created, then " + "x" * 100
    assert refused(envelope).detail == "unknown event_type <119 characters>"


def test_a_variant_key_in_an_error_location_is_shown_only_as_an_identifier() -> None:
    envelope = sample_dict("product.created")
    variant = next(iter(envelope["data"]["variants"].values()))
    envelope["data"]["variants"] = {
        "red-xl": {**variant, "price_cents": "free"},
        "password=hunter2": {**variant, "price_cents": "free"},
        "x" * 201: variant,
    }
    detail = refused(envelope).detail
    assert "data.variants.red-xl.price_cents" in detail
    assert "data.variants.<16 characters>.price_cents" in detail
    assert "data.variants.<201 characters>.[key]" in detail
    assert "hunter2" not in detail


def test_a_mismatched_document_id_is_shown_only_as_an_identifier() -> None:
    envelope = sample_dict("user.created")
    for document_id, shown in [
        ("000000000000000000000000", "000000000000000000000000"),
        ("api_key=hunter2", "<15 characters>"),
        ("a" * 65, "<65 characters>"),
        ({"nested": "hunter2"}, "<21 characters>"),
    ]:
        envelope["data"]["id"] = document_id
        assert refused(envelope).detail == (
            f"user.created: (event): data.id {shown} does not match entity_id "
            f"{envelope['entity_id']}"
        )


def test_a_repeated_item_id_is_shown_only_as_an_identifier() -> None:
    envelope = sample_dict("order.created")
    for item in envelope["data"]["items"]:
        item["item_id"] = "secret: hunter2"
    assert (
        refused(envelope).detail
        == "order.created: data.items: item_id <15 characters> appears twice"
    )


def test_configured_secret_names_are_never_shown() -> None:
    envelope = sample_dict("user.created")
    envelope["event_type"] = "user.pin-code:1234"
    with pytest.raises(InvalidEvent) as caught:
        decode_event(encode(envelope), secret_names(["pin_code"]))
    assert caught.value.detail == "unknown event_type <18 characters>"
