"""Property tests of `apply`: whole batches, one event at a time and random splits of one
stream all leave the same rows, and the rows a small reference model of the contract
predicts.

Streams mix a few entities of every kind with colliding timestamps (ties and stale
reorderings), case-distinct ids, variant keys and order numbers, duplicated events and
replayed suffixes. The reference model below is written from EVENTS.md and SCHEMA.md
alone; it shares no code with the mapping or the DAL.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from analytics.dal import ApplyResult, apply
from analytics.dal.plan import Entity, State, plan
from analytics.events import Event, decode_event
from analytics.mapping import map_event
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
from tests.conftest import empty_tables
from tests.samples import sample_dict

Envelope = dict[str, Any]
Version = tuple[datetime, int, str]
Row = dict[str, Any]
Tables = dict[str, list[Row]]

# --- The entities a stream talks about ---------------------------------------------

USER_IDS = ("65a1f0c2e4b0a1b2c3d4e5f6", "65A1F0C2E4B0A1B2C3D4E5F6")
SUPPLIER_IDS = ("5694f9e22c2f1bac6997fd72", "5694F9E22C2F1BAC6997FD72")
PRODUCT_IDS = ("d7ee36a52069e8a26bee8433", "63e2c89123d7b185ff9f0390")
POST_IDS = ("1235c340b049ec373f63d83b", "24aa17344d1079ab5e320f4a")
ORDER_IDS = ("4d13472248e13ae354e3d0a9", "4D13472248E13AE354E3D0A9")
ORDER_NUMBERS = ("ORD-1", "ord-1", "ORD-1 ", "ORD-2")
VARIANT_KEYS = ("Red", "red", "red ", "xl-black")
ITEM_IDS = ("item_1", "ITEM_1", "item_2")

# Half of the orders share one number, so that conflicts and matching cancels are common.
order_numbers = st.just(ORDER_NUMBERS[0]) | st.sampled_from(ORDER_NUMBERS)

# Envelope timestamps: four instants, two of them one microsecond apart, each written
# with one of several offsets, so that equal instants look different on the wire.
BASE_INSTANT = datetime(2025, 1, 15, 10, 0, 0, tzinfo=UTC)
INSTANTS = (
    BASE_INSTANT,
    BASE_INSTANT + timedelta(milliseconds=500),
    BASE_INSTANT + timedelta(seconds=1),
    BASE_INSTANT + timedelta(seconds=1, microseconds=1),
)
OFFSETS = (None, timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-3))

# Document datetimes (created_at, updated_at, shipped_at, ...).
DATES = (
    "2025-01-10T08:00:00Z",
    "2025-01-10T08:00:00.000001+00:00",
    "2025-01-11T11:30:00.250000+02:00",
    "2025-01-12T00:00:00-05:00",
)

EMAILS = ("kwame@example.com", "KWAME@example.com", "ana@example.com")
NAMES = ("Ana Chen", "Zoë Mensah", "Li Rossi 📦")
WORDS = ("alpha", "beta", "Quote: \"it's 'fine'\"; DROP TABLE x;--")


# --- Strategies --------------------------------------------------------------------


@functools.cache
def _sample(event_type: str) -> Envelope:
    return sample_dict(event_type)


def sample(event_type: str) -> Envelope:
    return copy.deepcopy(_sample(event_type))


def render_timestamp(instant: datetime, offset: timedelta | None) -> str:
    if offset is None:
        return instant.replace(tzinfo=None).isoformat() + "Z"
    return instant.astimezone(timezone(offset)).isoformat()


timestamps = st.builds(render_timestamp, st.sampled_from(INSTANTS), st.sampled_from(OFFSETS))
dates = st.sampled_from(DATES)
optional_dates = st.none() | dates
names = st.sampled_from(NAMES)
optional_words = st.none() | st.sampled_from(WORDS)
small_ints = st.integers(0, 3)


def envelope(draw: st.DrawFn, event_type: str, entity_id: str) -> Envelope:
    env = sample(event_type)
    env["entity_id"] = entity_id
    env["timestamp"] = draw(timestamps)
    if "id" in env["data"]:
        env["data"]["id"] = entity_id
    return env


@st.composite
def user_snapshots(draw: st.DrawFn) -> Envelope:
    event_type = draw(st.sampled_from(("user.created", "user.updated")))
    env = envelope(draw, event_type, draw(st.sampled_from(USER_IDS)))
    data = env["data"]
    data["contact_info"]["primary_email"] = draw(st.sampled_from(EMAILS))
    data["contact_info"]["phone"] = draw(st.none() | st.just("+1-555-0100"))
    data["profile"]["display_name"] = draw(names)
    data["profile"]["bio"] = draw(optional_words)
    data["version"] = draw(st.none() | st.integers(1, 4))
    data["deleted_at"] = draw(optional_dates)
    data["created_at"] = draw(dates)
    data["updated_at"] = draw(dates)
    return env


@st.composite
def supplier_snapshots(draw: st.DrawFn) -> Envelope:
    event_type = draw(st.sampled_from(("supplier.created", "supplier.updated")))
    env = envelope(draw, event_type, draw(st.sampled_from(SUPPLIER_IDS)))
    data = env["data"]
    data["contact_info"]["primary_email"] = draw(st.sampled_from(EMAILS))
    data["contact_info"]["contact_person_name"] = draw(st.none() | names)
    data["company_info"]["legal_name"] = draw(st.sampled_from(("Rossi Crafts LLC", "Acme")))
    data["company_info"]["dba_name"] = draw(optional_words)
    if draw(st.booleans()):
        data["company_info"]["business_address"] = None
    else:
        data["company_info"]["business_address"]["city"] = draw(
            st.sampled_from(("Tel Aviv", "Austin"))
        )
    if draw(st.booleans()):
        data["business_info"] = None
    else:
        data["business_info"]["timezone"] = draw(st.sampled_from(("UTC", "Asia/Tokyo")))
        data["business_info"]["support_email"] = draw(st.none() | st.sampled_from(EMAILS))
    data["created_at"] = draw(dates)
    data["updated_at"] = draw(dates)
    return env


@st.composite
def variants(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "variant_id": draw(st.sampled_from(("var-1", "VAR-1", "var-2"))),
        "variant_name": draw(names),
        "attributes": draw(
            st.sampled_from(
                (
                    None,
                    [],
                    [{"attribute_name": "Color", "attribute_value": "red"}],
                    [{"name": "Size", "value": "XL"}, {"name": "Color", "value": "Red"}],
                )
            )
        ),
        "price_cents": draw(st.integers(100, 103)),
        "cost_cents": draw(st.none() | st.just(400)),
        "quantity": draw(small_ints),
        "package_dimensions": draw(
            st.sampled_from(
                (None, {"width_cm": 10.5, "height_cm": 12.0, "depth_cm": 3.25}, {"width_cm": 1.0})
            )
        ),
        "image_url": draw(st.none() | st.just("https://cdn.example.com/v/1.jpg")),
    }


@st.composite
def product_snapshots(draw: st.DrawFn) -> Envelope:
    event_type = draw(
        st.sampled_from(
            (
                "product.created",
                "product.updated",
                "product.published",
                "product.discontinued",
                "product.out_of_stock",
                "product.restored",
            )
        )
    )
    env = envelope(draw, event_type, draw(st.sampled_from(PRODUCT_IDS)))
    data = env["data"]
    data["supplier_id"] = draw(st.sampled_from(SUPPLIER_IDS))
    data["supplier_info"] = draw(
        st.sampled_from((None, {"name": "Patel Crafts LLC"}, {"name": None}))
    )
    data["name"] = draw(names)
    data["status"] = draw(st.sampled_from(("draft", "active", "out_of_stock")))
    data["base_price_cents"] = draw(st.integers(1000, 1002))
    data["metadata"] = draw(
        st.sampled_from((None, {"base_sku": "SKU-1", "brand": None}, {"base_sku": None}))
    )
    data["stats"]["view_count"] = draw(small_ints)
    data["published_at"] = draw(optional_dates)
    data["created_at"] = draw(dates)
    data["updated_at"] = draw(dates)
    keys = draw(st.lists(st.sampled_from(VARIANT_KEYS), max_size=3, unique=True))
    data["variants"] = {key: draw(variants()) for key in keys}
    if not keys and draw(st.booleans()):
        del data["variants"]
    return env


@st.composite
def post_snapshots(draw: st.DrawFn) -> Envelope:
    event_type = draw(st.sampled_from(("post.created", "post.updated", "post.published")))
    env = envelope(draw, event_type, draw(st.sampled_from(POST_IDS)))
    data = env["data"]
    data["post_type"] = draw(st.sampled_from(("text", "image")))
    data["author"]["user_id"] = draw(st.sampled_from(USER_IDS))
    data["author"]["display_name"] = draw(names)
    data["author"]["author_type"] = draw(st.sampled_from(("user", "leader", None)))
    data["text_content"] = draw(optional_words)
    data["media"] = draw(
        st.sampled_from(([], [{"media_type": "image", "media_url": "https://x/1.jpg"}]))
    )
    link = draw(st.sampled_from(("absent", "null", "full", "partial")))
    if link == "absent":
        del data["link_preview"]
    elif link == "null":
        data["link_preview"] = None
    elif link == "full":
        data["link_preview"] = {
            "url": "https://example.com/w",
            "title": draw(names),
            "description": "d",
            "image": "https://example.com/i.jpg",
            "site_name": "Example.com",
        }
    else:
        data["link_preview"] = {"url": "https://example.com/p"}
    data["stats"]["like_count"] = draw(small_ints)
    data["stats"]["engagement_rate"] = draw(st.sampled_from((0.0, 7.3333, 12.5)))
    data["stats"]["last_comment_at"] = draw(optional_dates)
    data["deleted_at"] = draw(optional_dates)
    data["published_at"] = draw(optional_dates)
    data["created_at"] = draw(dates)
    data["updated_at"] = draw(dates)
    return env


@st.composite
def deletions(draw: st.DrawFn, event_type: str, ids: tuple[str, ...]) -> Envelope:
    """A delete whose target is named in data, or only by the envelope, or both differently."""
    field = event_type.partition(".")[0] + "_id"
    target = draw(st.sampled_from(ids))
    form = draw(st.sampled_from(("same", "missing", "null", "differs")))
    env = envelope(draw, event_type, target)
    if form == "same":
        env["data"] = {field: target}
    elif form == "missing":
        env["data"] = {}
    elif form == "null":
        env["data"] = {field: None}
    else:
        env["entity_id"] = next(other for other in ids if other != target)
        env["data"] = {field: target}
    return env


@st.composite
def order_items_of(draw: st.DrawFn) -> list[dict[str, Any]]:
    item_ids = draw(st.lists(st.sampled_from(ITEM_IDS), min_size=1, max_size=2, unique=True))
    items = []
    for item_id in item_ids:
        item = copy.deepcopy(_sample("order.created")["data"]["items"][0])
        item["item_id"] = item_id
        item["product_snapshot"]["product_name"] = draw(names)
        item["product_snapshot"]["variant_attributes"] = draw(
            st.sampled_from((None, {}, {"Size": "small", "Color": "red"}))
        )
        item["quantity"] = draw(st.integers(1, 3))
        item["unit_price_cents"] = draw(st.integers(100, 102))
        item["fulfillment_status"] = draw(st.sampled_from(("pending", "shipped", None)))
        item["shipped_quantity"] = draw(small_ints)
        item["tracking_number"] = draw(st.none() | st.just("TRK-1"))
        item["carrier"] = draw(st.none() | st.sampled_from(("UPS", "ups")))
        item["shipped_at"] = draw(optional_dates)
        item["delivered_at"] = draw(optional_dates)
        items.append(item)
    return items


@st.composite
def orders_created(draw: st.DrawFn) -> Envelope:
    env = envelope(draw, "order.created", draw(st.sampled_from(ORDER_IDS)))
    data = env["data"]
    data["order_number"] = draw(order_numbers)
    data["customer"]["user_id"] = draw(st.sampled_from(USER_IDS))
    data["customer"]["display_name"] = draw(names)
    if draw(st.booleans()):
        data["shipping_address"] = None
    else:
        data["shipping_address"]["city"] = draw(st.sampled_from(("Austin", "Tel Aviv")))
    data["status"] = draw(st.sampled_from(("pending", "paid", "shipped", None)))
    data["created_at"] = draw(dates)
    data["updated_at"] = draw(dates)
    data["items"] = draw(order_items_of())
    return env


@st.composite
def orders_cancelled(draw: st.DrawFn) -> Envelope:
    env = envelope(draw, "order.cancelled", draw(st.sampled_from(ORDER_IDS)))
    env["data"] = {"order_number": draw(order_numbers)}
    return env


EVENTS_BY_KIND: dict[str, st.SearchStrategy[Envelope]] = {
    "user": user_snapshots() | user_snapshots() | deletions("user.deleted", USER_IDS),
    "supplier": supplier_snapshots()
    | supplier_snapshots()
    | deletions("supplier.deleted", SUPPLIER_IDS),
    "product": product_snapshots()
    | product_snapshots()
    | deletions("product.deleted", PRODUCT_IDS),
    "post": post_snapshots() | post_snapshots() | deletions("post.deleted", POST_IDS),
    "order": orders_created() | orders_created() | orders_cancelled(),
}


# Products and orders (child rows, unique order numbers) come up twice as often.
KIND_CHOICES = ("user", "supplier", "product", "product", "post", "order", "order")


@st.composite
def streams(draw: st.DrawFn) -> list[Envelope]:
    """Events of one or two kinds, some duplicated, then a replayed suffix."""
    kinds = draw(st.lists(st.sampled_from(KIND_CHOICES), min_size=1, max_size=2))
    events = st.one_of(*(EVENTS_BY_KIND[kind] for kind in kinds))
    stream = draw(st.lists(events, min_size=3, max_size=16))
    for index, env in enumerate(stream):
        env["event_id"] = f"{index:08x}-0000-4000-8000-{index:012x}"
    duplicates = draw(st.lists(st.integers(0, len(stream) - 1), max_size=3))
    for source in duplicates:
        position = draw(st.integers(source + 1, len(stream)))
        stream.insert(position, stream[source])
    replay_from = draw(st.integers(0, len(stream)))
    return stream + stream[replay_from:]


# --- Reference model ---------------------------------------------------------------

APPLIED, STALE = "applied", "stale"
UNKNOWN_ENTITY, KEY_CONFLICT = "unknown_entity", "key_conflict"

TABLE_OF_TOPIC = {
    "user": "users",
    "supplier": "suppliers",
    "product": "products",
    "post": "posts",
    "order": "orders",
}
IMMUTABLE = {
    "users": ("user_id", "created_at"),
    "suppliers": ("supplier_id", "created_at"),
    "products": ("product_id", "supplier_id", "created_at"),
    "posts": ("post_id", "author_user_id", "author_type", "created_at"),
}
ORDER_MUTABLE = ("status", "updated_at", "event_id", "event_timestamp")
ITEM_MUTABLE = (
    "fulfillment_status",
    "shipped_quantity",
    "tracking_number",
    "carrier",
    "shipped_at",
    "delivered_at",
)
MODEL_TABLES = (
    "users",
    "suppliers",
    "products",
    "product_variants",
    "posts",
    "orders",
    "order_items",
    "tombstones",
)


def utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def user_row(key: str, data: dict[str, Any]) -> Row:
    contact, profile = data["contact_info"], data["profile"]
    return {
        "user_id": key,
        "email": contact["primary_email"],
        "phone": contact.get("phone"),
        "display_name": profile["display_name"],
        "avatar": profile.get("avatar"),
        "bio": profile.get("bio"),
        "version": data.get("version", 1),
        "deleted_at": utc(data.get("deleted_at")),
        "created_at": utc(data["created_at"]),
        "updated_at": utc(data["updated_at"]),
    }


def supplier_row(key: str, data: dict[str, Any]) -> Row:
    contact, company = data["contact_info"], data["company_info"]
    address = company.get("business_address") or {}
    business = data.get("business_info") or {}
    return {
        "supplier_id": key,
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
        "created_at": utc(data["created_at"]),
        "updated_at": utc(data["updated_at"]),
    }


def product_row(key: str, data: dict[str, Any]) -> Row:
    metadata = data.get("metadata") or {}
    stats = data.get("stats") or {}
    return {
        "product_id": key,
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
        "published_at": utc(data.get("published_at")),
        "created_at": utc(data["created_at"]),
        "updated_at": utc(data["updated_at"]),
    }


def variant_row(product_id: str, key: str, variant: dict[str, Any]) -> Row:
    dimensions = variant.get("package_dimensions") or {}
    return {
        "product_id": product_id,
        "variant_key": key,
        "variant_id": variant["variant_id"],
        "variant_name": variant["variant_name"],
        "attributes_json": variant.get("attributes"),
        "price_cents": variant["price_cents"],
        "cost_cents": variant.get("cost_cents"),
        "quantity": variant.get("quantity", 0),
        "width_cm": dimensions.get("width_cm"),
        "height_cm": dimensions.get("height_cm"),
        "depth_cm": dimensions.get("depth_cm"),
        "image_url": variant.get("image_url"),
    }


def post_row(key: str, data: dict[str, Any]) -> Row:
    author = data["author"]
    link = data.get("link_preview") or {}
    stats = data.get("stats") or {}
    return {
        "post_id": key,
        "post_type": data["post_type"],
        "author_user_id": author["user_id"],
        "author_display_name": author.get("display_name"),
        "author_avatar": author.get("avatar"),
        "author_type": author.get("author_type"),
        "text_content": data.get("text_content"),
        "media_json": data.get("media") or None,
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
        "last_comment_at": utc(stats.get("last_comment_at")),
        "deleted_at": utc(data.get("deleted_at")),
        "published_at": utc(data.get("published_at")),
        "created_at": utc(data["created_at"]),
        "updated_at": utc(data["updated_at"]),
    }


def order_row(key: str, data: dict[str, Any]) -> Row:
    customer = data["customer"]
    shipping = data.get("shipping_address") or {}
    return {
        "order_id": key,
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
        "created_at": utc(data["created_at"]),
        "updated_at": utc(data["updated_at"]),
    }


def item_row(order_id: str, item: dict[str, Any]) -> Row:
    snapshot = item["product_snapshot"]
    return {
        "order_id": order_id,
        "item_id": item["item_id"],
        "product_id": snapshot["product_id"],
        "supplier_id": snapshot["supplier_id"],
        "product_name": snapshot.get("product_name"),
        "variant_name": snapshot.get("variant_name"),
        "variant_attributes_json": snapshot.get("variant_attributes"),
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
        "shipped_at": utc(item.get("shipped_at")),
        "delivered_at": utc(item.get("delivered_at")),
    }


SNAPSHOT_ROWS = {
    "users": user_row,
    "suppliers": supplier_row,
    "products": product_row,
    "posts": post_row,
}


class ReferenceModel:
    """The read model as plain dicts keyed by natural key, advanced one envelope at a time."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Row]] = {name: {} for name in MODEL_TABLES}

    def run(self, stream: Sequence[Envelope]) -> list[str]:
        return [self.apply(env) for env in stream]

    def version(self, table: str, key: str) -> Version | None:
        """Versions order by timestamp, then a deleted state after a live one, then id."""
        row = self.tables[table].get(key)
        if row is not None:
            deleted = row.get("deleted_at") is not None or row.get("status") == "cancelled"
            return (row["event_timestamp"], int(deleted), row["event_id"])
        tombstone = self.tables["tombstones"].get((table, key))
        if tombstone is None:
            return None
        return (tombstone["deleted_at"], 1, tombstone["event_id"])

    @staticmethod
    def event_version(env: Envelope, timestamp: datetime) -> Version:
        event_type, data = env["event_type"], env["data"]
        deletes = event_type.endswith((".deleted", ".cancelled"))
        deleted = deletes or data.get("deleted_at") is not None or data.get("status") == "cancelled"
        return (timestamp, int(deleted), env["event_id"])

    def apply(self, env: Envelope) -> str:
        event_type: str = env["event_type"]
        topic, _, action = event_type.partition(".")
        table = TABLE_OF_TOPIC[topic]
        data: dict[str, Any] = env["data"]
        timestamp = utc(env["timestamp"])
        assert timestamp is not None
        marks = {"event_id": env["event_id"], "event_timestamp": timestamp}
        key: str = env["entity_id"]
        if action == "deleted":
            key = data.get(f"{topic}_id") or key
        version = self.version(table, key)
        if version is not None and self.event_version(env, timestamp) < version:
            return STALE
        rows = self.tables[table]
        if event_type in ("user.deleted", "post.deleted"):
            if key not in rows:
                return UNKNOWN_ENTITY
            rows[key].update(deleted_at=timestamp, **marks)
        elif event_type in ("supplier.deleted", "product.deleted"):
            rows.pop(key, None)
            if table == "products":
                self.replace_variants(key, {})
            self.tables["tombstones"][table, key] = {
                "entity_table": table,
                "entity_id": key,
                "deleted_at": timestamp,
                "event_id": env["event_id"],
            }
        elif event_type == "order.cancelled":
            if key not in rows:
                return UNKNOWN_ENTITY
            if rows[key]["order_number"] != data["order_number"]:
                return KEY_CONFLICT
            rows[key].update(status="cancelled", **marks)
        elif event_type == "order.created":
            return self.create_order(key, data, marks)
        else:
            row = {**SNAPSHOT_ROWS[table](key, data), **marks}
            if key in rows:
                immutable = IMMUTABLE[table]
                rows[key].update({k: v for k, v in row.items() if k not in immutable})
            else:
                rows[key] = row
            if table == "products":
                self.replace_variants(key, data.get("variants") or {})
        return APPLIED

    def replace_variants(self, product_id: str, variants: dict[str, Any]) -> None:
        table = self.tables["product_variants"]
        for pair in [pair for pair in table if pair[0] == product_id]:
            del table[pair]
        for variant_key, variant in variants.items():
            table[product_id, variant_key] = variant_row(product_id, variant_key, variant)

    def create_order(self, key: str, data: dict[str, Any], marks: Row) -> str:
        rows, items = self.tables["orders"], self.tables["order_items"]
        if key in rows:
            new = {**order_row(key, data), **marks}
            rows[key].update({column: new[column] for column in ORDER_MUTABLE})
        else:
            number = data["order_number"]
            if any(row["order_number"] == number for row in rows.values()):
                return KEY_CONFLICT
            rows[key] = {**order_row(key, data), **marks}
        for item in data.get("items") or []:
            row = item_row(key, item)
            existing = items.get((key, row["item_id"]))
            if existing is None:
                items[key, row["item_id"]] = row
            else:
                existing.update({column: row[column] for column in ITEM_MUTABLE})
        return APPLIED

    def contents(self) -> Tables:
        return {
            name: sorted((dict(row) for row in rows.values()), key=row_order)
            for name, rows in self.tables.items()
        }


# --- Running the stream through `apply` ----------------------------------------------

DB_TABLES = (
    users,
    suppliers,
    products,
    product_variants,
    posts,
    orders,
    order_items,
    tombstones,
)
SURROGATE_IDS = {"product_variants", "order_items"}


def row_order(row: Row) -> str:
    return json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)


def decode(stream: Sequence[Envelope]) -> list[Event]:
    return [decode_event(json.dumps(env, ensure_ascii=False).encode()) for env in stream]


def verdicts_of(result: ApplyResult, size: int) -> list[str]:
    """One verdict per event of a batch: applied, stale or the rejection's reason."""
    reported = [(index, APPLIED) for index in result.applied]
    reported += [(index, STALE) for index in result.stale]
    reported += [(r.index, str(r.error.reason)) for r in result.rejected]
    verdicts: dict[int, str] = {}
    for index, verdict in reported:
        assert index not in verdicts, f"event {index} reported twice"
        verdicts[index] = verdict
    assert sorted(verdicts) == list(range(size)), f"verdicts for {sorted(verdicts)} of {size}"
    return [verdicts[index] for index in range(size)]


def run_in_batches(
    engine: sa.Engine, events: Sequence[Event], sizes: Sequence[int]
) -> tuple[list[str], Tables]:
    """Apply `events` on empty tables, one transaction per batch of the given sizes."""
    assert sum(sizes) == len(events)
    empty_tables(engine)
    verdicts: list[str] = []
    start = 0
    for size in sizes:
        batch = events[start : start + size]
        with engine.begin() as connection:
            result = apply(connection, batch)
        verdicts += verdicts_of(result, len(batch))
        start += size
    return verdicts, read_tables(engine)


def read_tables(engine: sa.Engine) -> Tables:
    contents: Tables = {}
    with engine.connect() as connection:
        for table in DB_TABLES:
            columns = [
                column
                for column in table.columns
                if not (table.name in SURROGATE_IDS and column.name == "id")
            ]
            rows = [dict(row._mapping) for row in connection.execute(sa.select(*columns))]
            contents[table.name] = sorted(rows, key=row_order)
    return contents


def described(stream: Sequence[Envelope]) -> str:
    """One line per event: what a failing example was made of."""
    lines = []
    for index, env in enumerate(stream):
        data = env["data"]
        if env["event_type"].endswith(".deleted"):
            detail: Any = data
        elif "variants" in data:
            detail = {"variants": sorted(data["variants"])}
        elif "order_number" in data:
            items = [item["item_id"] for item in data.get("items", [])]
            detail = {"order_number": data["order_number"], "items": items}
        else:
            detail = ""
        lines.append(
            f"{index:2d} {env['event_type']:<21} {env['entity_id']} {env['timestamp']:<33} "
            f"{env['event_id'][:8]} {detail}"
        )
    return "\n".join(lines)


PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(stream=streams())
def test_batch_and_one_by_one_match_the_reference_model(
    engine: sa.Engine, stream: list[Envelope]
) -> None:
    events = decode(stream)
    model = ReferenceModel()
    expected_verdicts = model.run(stream)
    expected = model.contents()

    batch_verdicts, batch_tables = run_in_batches(engine, events, [len(events)])
    single_verdicts, single_tables = run_in_batches(engine, events, [1] * len(events))

    for verdict in sorted(set(expected_verdicts)):
        event(f"some event is {verdict}")
    context = described(stream)
    assert batch_verdicts == single_verdicts, context
    assert batch_tables == single_tables, context
    assert batch_verdicts == expected_verdicts, context
    assert batch_tables == expected, context


@PROPERTY_SETTINGS
@given(stream=streams(), data=st.data())
def test_random_batch_splits_match_the_reference_model(
    engine: sa.Engine, stream: list[Envelope], data: st.DataObject
) -> None:
    events = decode(stream)
    cuts = data.draw(
        st.sets(st.integers(1, len(events) - 1)) if len(events) > 1 else st.just(set())
    )
    bounds = [0, *sorted(cuts), len(events)]
    sizes = [end - start for start, end in itertools.pairwise(bounds)]
    model = ReferenceModel()
    expected_verdicts = model.run(stream)

    verdicts, tables = run_in_batches(engine, events, sizes)

    context = f"batch sizes {sizes}\n{described(stream)}"
    assert verdicts == expected_verdicts, context
    assert tables == model.contents(), context


# --- Ties: equal timestamps are the rule, not the exception ----------------------------------

TIED_INSTANTS = (BASE_INSTANT, BASE_INSTANT + timedelta(milliseconds=1))
# Ids whose code point order differs from a case-insensitive one. Every event has its own
# id, as the contract says; a redelivery carries its event's id.
EVENT_IDS = tuple(
    f"{first}{n:07x}-0000-4000-8000-000000000000" for first in "0Bab" for n in range(4)
)
tied_timestamps = st.builds(
    render_timestamp, st.sampled_from(TIED_INSTANTS), st.sampled_from(OFFSETS)
)


@st.composite
def tied_streams(draw: st.DrawFn) -> list[Envelope]:
    """Events at two instants a millisecond apart, in any id order, then a redelivered
    prefix and a replayed suffix."""
    kinds = draw(st.lists(st.sampled_from(KIND_CHOICES), min_size=1, max_size=2))
    events = st.one_of(*(EVENTS_BY_KIND[kind] for kind in kinds))
    stream = draw(st.lists(events, min_size=3, max_size=14))
    ids = draw(st.permutations(EVENT_IDS))
    for env, event_id in zip(stream, ids, strict=False):
        env["timestamp"] = draw(tied_timestamps)
        env["event_id"] = event_id
    prefix = draw(st.integers(0, len(stream)))
    suffix = draw(st.integers(0, len(stream)))
    return stream + stream[:prefix] + stream[suffix:]


@PROPERTY_SETTINGS
@given(stream=tied_streams())
def test_tied_streams_in_one_batch_one_by_one_and_the_model_agree(
    engine: sa.Engine, stream: list[Envelope]
) -> None:
    events = decode(stream)
    model = ReferenceModel()
    expected_verdicts = model.run(stream)

    batch_verdicts, batch_tables = run_in_batches(engine, events, [len(events)])
    single_verdicts, single_tables = run_in_batches(engine, events, [1] * len(events))

    context = described(stream)
    assert batch_verdicts == single_verdicts == expected_verdicts, context
    assert batch_tables == single_tables == model.contents(), context


@PROPERTY_SETTINGS
@given(stream=tied_streams(), data=st.data())
def test_redelivering_applied_events_in_any_order_changes_nothing(
    engine: sa.Engine, stream: list[Envelope], data: st.DataObject
) -> None:
    """Kafka redelivers after a crash or a rebalance, in any batch and any number of
    times: events that applied once must leave the rows as they are."""
    verdicts = ReferenceModel().run(stream)
    applied = [env for env, verdict in zip(stream, verdicts, strict=True) if verdict == APPLIED]
    redelivered = data.draw(st.lists(st.sampled_from(applied), max_size=8)) if applied else []
    events = decode(stream)
    _, before = run_in_batches(engine, events, [len(events)])
    again = decode(redelivered)
    with engine.begin() as connection:
        apply(connection, again)
    for event_ in again:
        with engine.begin() as connection:
            apply(connection, [event_])
    assert read_tables(engine) == before, described(stream + redelivered)


# --- The planner alone: no database, milliseconds a stream ------------------------------------


def empty_state(changes: Sequence[Any]) -> State:
    return State({(c.table.name, c.entity_id): Entity(False, None) for c in changes})


@settings(max_examples=300, deadline=None)
@given(stream=streams() | tied_streams())
def test_the_planner_alone_gives_the_reference_verdicts(stream: list[Envelope]) -> None:
    """The verdicts depend only on the batch and the state read before it: planned
    against empty tables, one whole stream gives the reference model's verdicts."""
    changes = [map_event(event_) for event_ in decode(stream)]
    planned = plan(changes, empty_state(changes))
    assert verdicts_of(planned.result, len(stream)) == ReferenceModel().run(stream), described(
        stream
    )
    # Within a round no two changes touch one entity, so each round is one statement per
    # table and operation.
    for round_changes in planned.rounds:
        entities = [(c.table.name, c.entity_id) for c in round_changes]
        assert len(entities) == len(set(entities))
