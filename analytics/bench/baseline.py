"""The seed-style baseline: events applied "the tutorial way".

`json.loads` and dict lookups instead of models, one statement per row (one
`INSERT ... ON DUPLICATE KEY UPDATE` per entity row, per order item, per variant), and one
commit per event, through the plain MySQLdb driver. No validation, no staleness check, no
dead letters: on the clean simulated stream it leaves exactly the rows the service leaves,
which the bench verifies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from analytics.events.product import PRODUCT_SNAPSHOT_TYPES
from analytics.mapping import order, post, product, supplier, user
from analytics.schema import (
    order_items,
    orders,
    posts,
    product_variants,
    products,
    suppliers,
    tombstones,
    users,
)

Statement = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class BaselineResult:
    events: int
    seconds: float
    statements: int
    row_writes: int
    commits: int


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 with an offset or "Z" → naive UTC, as the columns store it."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def dump_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _upsert_sql(table: sa.Table, columns: Sequence[str], update: Iterable[str]) -> str:
    names = ", ".join(f"`{name}`" for name in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    assignments = ", ".join(f"`{name}` = VALUES(`{name}`)" for name in update)
    return (
        f"INSERT INTO `{table.name}` ({names}) VALUES ({placeholders})"
        f" ON DUPLICATE KEY UPDATE {assignments}"
    )


class _Upsert:
    """One table's single-row upsert, its SQL built once from the first row's columns."""

    def __init__(self, table: sa.Table, update: Sequence[str]) -> None:
        self.table = table
        self.update = update
        self.sql: str | None = None

    def __call__(self, row: Mapping[str, Any]) -> Statement:
        if self.sql is None:
            self.sql = _upsert_sql(self.table, list(row), self.update)
        return self.sql, tuple(row.values())


_user = _Upsert(users, user.UPDATABLE)
_supplier = _Upsert(suppliers, supplier.UPDATABLE)
_product = _Upsert(products, product.UPDATABLE)
_variant = _Upsert(product_variants, product.VARIANT_UPDATABLE)
_post = _Upsert(posts, post.UPDATABLE)
_order = _Upsert(orders, order.UPDATABLE)
_item = _Upsert(order_items, order.ITEM_UPDATABLE)
_tombstone = _Upsert(tombstones, ("deleted_at", "event_id"))


def _event_columns(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"event_id": event["event_id"], "event_timestamp": parse_time(event["timestamp"])}


def _hard_delete(table: sa.Table, key_column: str, event: Mapping[str, Any]) -> list[Statement]:
    key = (event.get("data") or {}).get(key_column) or event["entity_id"]
    at = parse_time(event["timestamp"])
    tombstone = {
        "entity_table": table.name,
        "entity_id": key,
        "deleted_at": at,
        "event_id": event["event_id"],
    }
    return [
        (f"DELETE FROM `{table.name}` WHERE `{key_column}` = %s", (key,)),
        _tombstone(tombstone),
    ]


def _mark_deleted(table: sa.Table, key_column: str, event: Mapping[str, Any]) -> list[Statement]:
    key = (event.get("data") or {}).get(key_column) or event["entity_id"]
    at = parse_time(event["timestamp"])
    sql = (
        f"UPDATE `{table.name}` SET deleted_at = %s, event_id = %s, event_timestamp = %s"
        f" WHERE `{key_column}` = %s"
    )
    return [(sql, (at, event["event_id"], at, key))]


def _user_snapshot(event: Mapping[str, Any]) -> list[Statement]:
    data = event["data"]
    contact, profile = data["contact_info"], data["profile"]
    row = {
        "user_id": event["entity_id"],
        "email": contact["primary_email"],
        "phone": contact.get("phone"),
        "display_name": profile["display_name"],
        "avatar": profile.get("avatar"),
        "bio": profile.get("bio"),
        "version": data.get("version", 1),
        "deleted_at": parse_time(data.get("deleted_at")),
        "created_at": parse_time(data["created_at"]),
        "updated_at": parse_time(data["updated_at"]),
        **_event_columns(event),
    }
    return [_user(row)]


def _supplier_snapshot(event: Mapping[str, Any]) -> list[Statement]:
    data = event["data"]
    contact, company = data["contact_info"], data["company_info"]
    address = company.get("business_address") or {}
    business = data.get("business_info") or {}
    row = {
        "supplier_id": event["entity_id"],
        "email": contact["primary_email"],
        "primary_phone": contact["primary_phone"],
        "contact_person_name": contact.get("contact_person_name"),
        "contact_person_title": contact.get("contact_person_title"),
        "contact_person_email": contact.get("contact_person_email"),
        "contact_person_phone": contact.get("contact_person_phone"),
        "legal_name": company["legal_name"],
        "dba_name": company.get("dba_name"),
        "street_address_1": address.get("street_address_1"),
        "street_address_2": address.get("street_address_2"),
        "city": address.get("city"),
        "state": address.get("state"),
        "zip_code": address.get("zip_code"),
        "country": address.get("country"),
        "support_email": business.get("support_email"),
        "support_phone": business.get("support_phone"),
        "facebook_url": business.get("facebook_url"),
        "instagram_handle": business.get("instagram_handle"),
        "twitter_handle": business.get("twitter_handle"),
        "linkedin_url": business.get("linkedin_url"),
        "timezone": business.get("timezone"),
        "created_at": parse_time(data["created_at"]),
        "updated_at": parse_time(data["updated_at"]),
        **_event_columns(event),
    }
    return [_supplier(row)]


def _product_snapshot(event: Mapping[str, Any]) -> list[Statement]:
    data = event["data"]
    product_id = event["entity_id"]
    metadata = data.get("metadata") or {}
    stats = data.get("stats") or {}
    row = {
        "product_id": product_id,
        "supplier_id": data["supplier_id"],
        "supplier_name": (data.get("supplier_info") or {}).get("name"),
        "name": data["name"],
        "short_description": data.get("short_description"),
        "category": data["category"],
        "unit_type": data["unit_type"],
        "base_sku": metadata.get("base_sku"),
        "brand": metadata.get("brand"),
        "base_price_cents": data["base_price_cents"],
        "status": data["status"],
        "view_count": stats.get("view_count", 0),
        "favorite_count": stats.get("favorite_count", 0),
        "purchase_count": stats.get("purchase_count", 0),
        "total_reviews": stats.get("total_reviews", 0),
        "published_at": parse_time(data.get("published_at")),
        "created_at": parse_time(data["created_at"]),
        "updated_at": parse_time(data["updated_at"]),
        **_event_columns(event),
    }
    statements = [_product(row)]
    variants: dict[str, Any] = data.get("variants") or {}
    if variants:
        placeholders = ", ".join(["%s"] * len(variants))
        statements.append(
            (
                "DELETE FROM `product_variants` WHERE `product_id` = %s"
                f" AND `variant_key` NOT IN ({placeholders})",
                (product_id, *variants),
            )
        )
    else:
        statements.append(("DELETE FROM `product_variants` WHERE `product_id` = %s", (product_id,)))
    for key, variant in variants.items():
        dimensions = variant.get("package_dimensions") or {}
        variant_row = {
            "product_id": product_id,
            "variant_key": key,
            "variant_id": variant["variant_id"],
            "variant_name": variant["variant_name"],
            "attributes_json": dump_json(variant.get("attributes")),
            "price_cents": variant["price_cents"],
            "cost_cents": variant.get("cost_cents"),
            "quantity": variant.get("quantity", 0),
            "width_cm": dimensions.get("width_cm"),
            "height_cm": dimensions.get("height_cm"),
            "depth_cm": dimensions.get("depth_cm"),
            "image_url": variant.get("image_url"),
        }
        statements.append(_variant(variant_row))
    return statements


def _post_snapshot(event: Mapping[str, Any]) -> list[Statement]:
    data = event["data"]
    author = data["author"]
    link = data.get("link_preview") or {}
    stats = data.get("stats") or {}
    row = {
        "post_id": event["entity_id"],
        "post_type": data["post_type"],
        "author_user_id": author["user_id"],
        "author_display_name": author.get("display_name"),
        "author_avatar": author.get("avatar"),
        "author_type": author.get("author_type"),
        "text_content": data.get("text_content"),
        "media_json": dump_json(data.get("media") or None),
        "link_url": link.get("url"),
        "link_title": link.get("title"),
        "link_description": link.get("description"),
        "link_image": link.get("image"),
        "link_site_name": link.get("site_name"),
        "view_count": stats.get("view_count", 0),
        "like_count": stats.get("like_count", 0),
        "comment_count": stats.get("comment_count", 0),
        "share_count": stats.get("share_count", 0),
        "save_count": stats.get("save_count", 0),
        "engagement_rate": stats.get("engagement_rate", 0.0),
        "last_comment_at": parse_time(stats.get("last_comment_at")),
        "deleted_at": parse_time(data.get("deleted_at")),
        "published_at": parse_time(data.get("published_at")),
        "created_at": parse_time(data["created_at"]),
        "updated_at": parse_time(data["updated_at"]),
        **_event_columns(event),
    }
    return [_post(row)]


def _order_created(event: Mapping[str, Any]) -> list[Statement]:
    data = event["data"]
    order_id = event["entity_id"]
    customer = data["customer"]
    shipping = data.get("shipping_address") or {}
    row = {
        "order_id": order_id,
        "order_number": data["order_number"],
        "customer_user_id": customer["user_id"],
        "customer_display_name": customer.get("display_name"),
        "customer_email": customer.get("email"),
        "customer_phone": customer.get("phone"),
        "shipping_recipient_name": shipping.get("recipient_name"),
        "shipping_phone": shipping.get("phone"),
        "shipping_street_1": shipping.get("street_address_1"),
        "shipping_street_2": shipping.get("street_address_2"),
        "shipping_city": shipping.get("city"),
        "shipping_state": shipping.get("state"),
        "shipping_zip_code": shipping.get("zip_code"),
        "shipping_country": shipping.get("country"),
        "status": data.get("status") or "pending",
        "created_at": parse_time(data["created_at"]),
        "updated_at": parse_time(data["updated_at"]),
        **_event_columns(event),
    }
    statements = [_order(row)]
    for item in data.get("items") or []:
        snapshot = item["product_snapshot"]
        item_row = {
            "order_id": order_id,
            "item_id": item["item_id"],
            "product_id": snapshot["product_id"],
            "supplier_id": snapshot["supplier_id"],
            "product_name": snapshot.get("product_name"),
            "variant_name": snapshot.get("variant_name"),
            "variant_attributes_json": dump_json(snapshot.get("variant_attributes")),
            "image_url": snapshot.get("image_url"),
            "supplier_name": snapshot.get("supplier_name"),
            "quantity": item["quantity"],
            "unit_price_cents": item["unit_price_cents"],
            "final_price_cents": item["final_price_cents"],
            "total_cents": item["total_cents"],
            "fulfillment_status": item.get("fulfillment_status", "pending"),
            "shipped_quantity": item.get("shipped_quantity", 0),
            "tracking_number": item.get("tracking_number"),
            "carrier": item.get("carrier"),
            "shipped_at": parse_time(item.get("shipped_at")),
            "delivered_at": parse_time(item.get("delivered_at")),
        }
        statements.append(_item(item_row))
    return statements


def _order_cancelled(event: Mapping[str, Any]) -> list[Statement]:
    at = parse_time(event["timestamp"])
    sql = (
        "UPDATE `orders` SET status = 'cancelled', event_id = %s, event_timestamp = %s"
        " WHERE order_id = %s AND order_number = %s"
    )
    return [(sql, (event["event_id"], at, event["entity_id"], event["data"]["order_number"]))]


_HANDLERS: dict[str, Callable[[Mapping[str, Any]], list[Statement]]] = {
    "user.created": _user_snapshot,
    "user.updated": _user_snapshot,
    "user.deleted": lambda event: _mark_deleted(users, "user_id", event),
    "supplier.created": _supplier_snapshot,
    "supplier.updated": _supplier_snapshot,
    "supplier.deleted": lambda event: _hard_delete(suppliers, "supplier_id", event),
    **dict.fromkeys(PRODUCT_SNAPSHOT_TYPES, _product_snapshot),
    "product.deleted": lambda event: _hard_delete(products, "product_id", event),
    "post.created": _post_snapshot,
    "post.updated": _post_snapshot,
    "post.published": _post_snapshot,
    "post.deleted": lambda event: _mark_deleted(posts, "post_id", event),
    "order.created": _order_created,
    "order.cancelled": _order_cancelled,
}


def statements_for(value: bytes) -> list[Statement]:
    """The statements one message turns into, in the order they run."""
    event = json.loads(value)
    return _HANDLERS[event["event_type"]](event)


_VARIANT_CLEANUP = "DELETE FROM `product_variants`"


def row_writes(statements: Sequence[Statement]) -> int:
    """Rows the statements write: all but the variant clean-up deletes, one row each."""
    return sum(1 for sql, _params in statements if not sql.startswith(_VARIANT_CLEANUP))


def run(
    connection: Any, values: Iterable[bytes], on_event: Callable[[int], None] | None = None
) -> BaselineResult:
    """Apply each message with one statement per row and one commit per event."""
    cursor = connection.cursor()
    events = statements = writes = 0
    started = time.perf_counter()
    for value in values:
        planned = statements_for(value)
        for sql, params in planned:
            cursor.execute(sql, params)
        connection.commit()
        events += 1
        statements += len(planned)
        writes += row_writes(planned)
        if on_event is not None and events % 100 == 0:
            on_event(events)
    seconds = time.perf_counter() - started
    cursor.close()
    return BaselineResult(events, seconds, statements, writes, commits=events)
