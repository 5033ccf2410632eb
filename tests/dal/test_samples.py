"""Every sample of the contract applied to an empty read model, row by row and column by column.

The expected rows are written out by hand from the sample payloads and the column mapping
of SCHEMA.md, never computed with the mapping code under test. Surrogate `id` columns are
checked to be integers and then left out of the comparison.

The minimal samples (`*.deleted`, `order.cancelled`) name entities that no other sample
creates, so their tests first apply a seed: a copy of a full sample rewritten to describe
that entity, with an earlier envelope timestamp.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.dal.apply import ApplyResult, apply
from analytics.errors import Reason
from analytics.events import Event
from analytics.schema import metadata
from tests.samples import all_sample_types, event_from, sample_bytes, sample_dict, sample_event

Row = dict[str, Any]
Contents = dict[str, list[Row]]

SAMPLE_TYPES = all_sample_types()

# --- Reading and applying --------------------------------------------------------------


def rows(connection: sa.Connection, table: sa.Table) -> list[Row]:
    """All rows of `table` as dicts, ordered by their natural key."""
    query = sa.select(table).order_by(*natural_key(table))
    return [dict(row) for row in connection.execute(query).mappings().all()]


def natural_key(table: sa.Table) -> list[sa.Column[Any]]:
    """The primary key, or for tables keyed by a surrogate id, their unique business key."""
    if table.autoincrement_column is None:
        return list(table.primary_key.columns)
    unique = next(c for c in table.constraints if isinstance(c, sa.UniqueConstraint))
    return list(unique.columns)


def read_all(engine: sa.Engine) -> Contents:
    """The full contents of every table of the schema, surrogate ids included."""
    with engine.connect() as connection:
        return {table.name: rows(connection, table) for table in metadata.sorted_tables}


def without_surrogate_ids(contents: Contents) -> Contents:
    """`contents` without the auto-increment `id` columns, after checking they are integers."""
    stripped: Contents = {}
    for table in metadata.sorted_tables:
        table_rows = contents[table.name]
        surrogate = table.autoincrement_column
        if surrogate is None:
            stripped[table.name] = table_rows
            continue
        ids = [row[surrogate.name] for row in table_rows]
        assert all(isinstance(value, int) and not isinstance(value, bool) for value in ids), ids
        assert len(set(ids)) == len(ids), ids
        stripped[table.name] = [
            {name: value for name, value in row.items() if name != surrogate.name}
            for row in table_rows
        ]
    return stripped


def only(expected: Contents) -> Contents:
    """`expected` for the tables it names, and no rows at all in every other table."""
    unknown = set(expected) - {table.name for table in metadata.sorted_tables}
    assert not unknown, unknown
    return {table.name: expected.get(table.name, []) for table in metadata.sorted_tables}


def apply_one(engine: sa.Engine, event: Event) -> ApplyResult:
    """Apply one event in a transaction of its own."""
    with engine.begin() as connection:
        return apply(connection, [event])


def apply_applied(engine: sa.Engine, event: Event) -> None:
    result = apply_one(engine, event)
    assert result.rejected == []
    assert result.stale == []
    assert result.applied == [0]


# --- Seeds for the minimal samples -----------------------------------------------------


def copy_for_entity(
    event_type: str, *, entity_id: str, event_id: str, timestamp: str | None = None
) -> dict[str, Any]:
    """The envelope of sample `event_type` rewritten to describe another entity."""
    envelope = sample_dict(event_type)
    envelope["entity_id"] = entity_id
    envelope["event_id"] = event_id
    envelope["data"]["id"] = entity_id
    if timestamp is not None:
        envelope["timestamp"] = timestamp
    return envelope


def user_seed() -> Event:
    """user.created for the user of the user.deleted sample (emitted at 10:30:01)."""
    return event_from(
        copy_for_entity(
            "user.created",
            entity_id="2836c42c0848a1e53a015797",
            event_id="5eed0000-0000-4000-8000-000000000001",
        )
    )


def supplier_seed() -> Event:
    """supplier.created for the supplier of the supplier.deleted sample (at 10:30:02)."""
    return event_from(
        copy_for_entity(
            "supplier.created",
            entity_id="1dd377bf623d8eb7a4ca83b2",
            event_id="5eed0000-0000-4000-8000-000000000002",
        )
    )


def product_seed() -> Event:
    """The product.updated sample already describes the product of product.deleted (10:30:43)."""
    return sample_event("product.updated")


def post_seed() -> Event:
    """post.published for the post of the post.deleted sample (at 10:30:25)."""
    return event_from(
        copy_for_entity(
            "post.published",
            entity_id="b716dabfa642e49dec6e9c6b",
            event_id="5eed0000-0000-4000-8000-000000000004",
        )
    )


def order_seed() -> Event:
    """order.created for the order of the order.cancelled sample, created at 10:31:05."""
    envelope = copy_for_entity(
        "order.created",
        entity_id="d383f380c1cdcb4d691d71a5",
        event_id="5eed0000-0000-4000-8000-000000000005",
        timestamp="2025-01-15T10:31:05+00:00",
    )
    envelope["data"]["order_number"] = "ORD-20250115-D575"
    envelope["data"]["created_at"] = "2025-01-15T10:31:05Z"
    envelope["data"]["updated_at"] = "2025-01-15T10:31:05Z"
    return event_from(envelope)


SEEDS = {
    "user.deleted": user_seed,
    "supplier.deleted": supplier_seed,
    "product.deleted": product_seed,
    "post.deleted": post_seed,
    "order.cancelled": order_seed,
}


def apply_sample(engine: sa.Engine, event_type: str) -> None:
    """Apply the seed of `event_type` (if it needs one), then the sample itself."""
    seed = SEEDS.get(event_type)
    if seed is not None:
        apply_applied(engine, seed())
    apply_applied(engine, sample_event(event_type))


# --- Expected rows ----------------------------------------------------------------------

AVATAR = "https://cdn.example.com/avatars/default.jpg"
TRICKY_TEXT = "Quote: \"it's 'fine'\"; DROP TABLE posts;--"
DESCRIPTION = "Beautiful and handcrafted"


def size_color(size: str, color: str) -> list[dict[str, str]]:
    return [
        {"attribute_name": "Size", "attribute_value": size},
        {"attribute_name": "Color", "attribute_value": color},
    ]


# Variants shared by samples of one product (created/restored, out_of_stock/discontinued).
VARIANT_A104_XL_BLACK: Row = {
    "product_id": "a104a795bd4aeab02891dd3c",
    "variant_key": "xl-black",
    "variant_id": "var-108884",
    "variant_name": "Xl Black",
    "attributes_json": size_color("xl", "black"),
    "price_cents": 4073,
    "cost_cents": None,
    "quantity": 65,
    "width_cm": 10.5,
    "height_cm": 12.0,
    "depth_cm": 3.25,
    "image_url": "https://cdn.example.com/v/xl-black.jpg",
}
VARIANTS_32D1: list[Row] = [
    {
        "product_id": "32d1464e402746a4aa785c61",
        "variant_key": "large-blue",
        "variant_id": "var-142792",
        "variant_name": "Large Blue",
        "attributes_json": size_color("large", "blue"),
        "price_cents": 4909,
        "cost_cents": 400,
        "quantity": 44,
        "width_cm": 10.5,
        "height_cm": 12.0,
        "depth_cm": 3.25,
        "image_url": None,
    },
    {
        "product_id": "32d1464e402746a4aa785c61",
        "variant_key": "one-size-natural",
        "variant_id": "var-745766",
        "variant_name": "One Size Natural",
        "attributes_json": size_color("one", "natural"),
        "price_cents": 2601,
        "cost_cents": 400,
        "quantity": 21,
        "width_cm": 10.5,
        "height_cm": 12.0,
        "depth_cm": 3.25,
        "image_url": None,
    },
]


def order_items_of(order_id: str) -> list[Row]:
    """The two items of the order.created sample, as rows of order `order_id`."""
    return [
        {
            "order_id": order_id,
            "item_id": "item_1",
            "product_id": "d7ee36a52069e8a26bee8433",
            "supplier_id": "5694f9e22c2f1bac6997fd72",
            "product_name": "Handmade Scarf #504",
            "variant_name": "small-red",
            "variant_attributes_json": {"Size": "small", "Color": "red"},
            "image_url": "https://placeholder.com/default.jpg",
            "supplier_name": "Patel Crafts LLC",
            "quantity": 3,
            "unit_price_cents": 8971,
            "final_price_cents": 26913,
            "total_cents": 26913,
            "fulfillment_status": "pending",
            "shipped_quantity": 0,
            "tracking_number": None,
            "carrier": None,
            "shipped_at": None,
            "delivered_at": None,
        },
        {
            "order_id": order_id,
            "item_id": "item_2",
            "product_id": "63e2c89123d7b185ff9f0390",
            "supplier_id": "852ec6271761591bd202d286",
            "product_name": "Handmade Mug #475",
            "variant_name": "small-red",
            "variant_attributes_json": {"Size": "small", "Color": "red"},
            "image_url": "https://placeholder.com/default.jpg",
            "supplier_name": "Smith Crafts LLC",
            "quantity": 4,
            "unit_price_cents": 3454,
            "final_price_cents": 13816,
            "total_cents": 13816,
            "fulfillment_status": "pending",
            "shipped_quantity": 0,
            "tracking_number": None,
            "carrier": None,
            "shipped_at": None,
            "delivered_at": None,
        },
    ]


# The non-empty tables after applying each sample (and its seed) to empty tables.
EXPECTED: dict[str, Contents] = {
    "user.created": {
        "users": [
            {
                "user_id": "ec99108ddb5b5fab8f4d3e27",
                "email": "ravi.4d3e27@example.com",
                "phone": None,
                "display_name": "Ravi Levi",
                "avatar": AVATAR,
                "bio": None,
                "version": 1,
                "deleted_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 1, 953078),
                "updated_at": datetime(2025, 1, 15, 10, 30, 1, 953078),
                "event_id": "78511608-0d65-4372-a907-94dfed52a241",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 1, 953078),
            }
        ]
    },
    "user.updated": {
        "users": [
            {
                "user_id": "ec99108ddb5b5fab8f4d3e27",
                "email": "ravi.4d3e27@example.com",
                "phone": None,
                "display_name": "Li Rossi",
                "avatar": AVATAR,
                "bio": None,
                "version": 2,
                "deleted_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 1, 953078),
                "updated_at": datetime(2025, 1, 15, 10, 30, 4, 138122),
                "event_id": "9c3ecb54-c5ce-4dd8-8273-85c9421e7a60",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 4, 138122),
            }
        ]
    },
    # Seeded by a copy of user.created; the soft delete keeps the row.
    "user.deleted": {
        "users": [
            {
                "user_id": "2836c42c0848a1e53a015797",
                "email": "ravi.4d3e27@example.com",
                "phone": None,
                "display_name": "Ravi Levi",
                "avatar": AVATAR,
                "bio": None,
                "version": 1,
                "deleted_at": datetime(2025, 1, 15, 10, 32, 22, 931022),
                "created_at": datetime(2025, 1, 15, 10, 30, 1, 953078),
                "updated_at": datetime(2025, 1, 15, 10, 30, 1, 953078),
                "event_id": "e17228bf-df75-4dd4-b2c9-021e92988e58",
                "event_timestamp": datetime(2025, 1, 15, 10, 32, 22, 931022),
            }
        ]
    },
    "supplier.created": {
        "suppliers": [
            {
                "supplier_id": "6b77730f65bd9acbb57a6a1d",
                "email": "sales.7a6a1d@example.com",
                "primary_phone": "+1-555-0199",
                "contact_person_name": "Zoë Mensah",
                "contact_person_title": "Sales Manager",
                "contact_person_email": None,
                "contact_person_phone": None,
                "legal_name": "Rossi Crafts LLC",
                "dba_name": "Rossi",
                "street_address_1": "123 Main St",
                "street_address_2": None,
                "city": "Tel Aviv",
                "state": "TA",
                "zip_code": "6100000",
                "country": "IL",
                "support_email": None,
                "support_phone": None,
                "facebook_url": None,
                "instagram_handle": "@rossi",
                "twitter_handle": None,
                "linkedin_url": None,
                "timezone": "America/Los_Angeles",
                "created_at": datetime(2025, 1, 15, 10, 30, 2, 259424),
                "updated_at": datetime(2025, 1, 15, 10, 30, 2, 259424),
                "event_id": "03e0d681-5524-44f1-8fab-6f3e164f1513",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 2, 259424),
            }
        ]
    },
    "supplier.updated": {
        "suppliers": [
            {
                "supplier_id": "6b77730f65bd9acbb57a6a1d",
                "email": "sales.7a6a1d@example.com",
                "primary_phone": "+1-555-0199",
                "contact_person_name": "Zoë Mensah",
                "contact_person_title": "Sales Manager",
                "contact_person_email": None,
                "contact_person_phone": None,
                "legal_name": "Rossi Crafts LLC",
                "dba_name": "Acme",
                "street_address_1": "123 Main St",
                "street_address_2": None,
                "city": "Tel Aviv",
                "state": "TA",
                "zip_code": "6100000",
                "country": "IL",
                "support_email": "help.6a1d@example.com",
                "support_phone": None,
                "facebook_url": None,
                "instagram_handle": "@rossi",
                "twitter_handle": None,
                "linkedin_url": None,
                "timezone": "America/Los_Angeles",
                "created_at": datetime(2025, 1, 15, 10, 30, 2, 259424),
                "updated_at": datetime(2025, 1, 15, 10, 30, 49, 121270),
                "event_id": "ba00eb1b-21ee-4e33-bd45-e04ee3939895",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 49, 121270),
            }
        ]
    },
    # Seeded by a copy of supplier.created; the hard delete leaves only a tombstone.
    "supplier.deleted": {
        "tombstones": [
            {
                "entity_table": "suppliers",
                "entity_id": "1dd377bf623d8eb7a4ca83b2",
                "deleted_at": datetime(2025, 1, 15, 10, 30, 48, 715002),
                "event_id": "e401278a-50a3-44ea-9a66-905a50dd1af0",
            }
        ]
    },
    "product.created": {
        "products": [
            {
                "product_id": "a104a795bd4aeab02891dd3c",
                "supplier_id": "19de2bc1b4ff00ae3f1347de",
                "supplier_name": "Patel Crafts LLC",
                "name": "Handmade Lamp #619",
                "short_description": DESCRIPTION,
                "category": "fashion",
                "unit_type": "box",
                "base_sku": "SKU-91DD3C",
                "brand": None,
                "base_price_cents": 8312,
                "status": "draft",
                "view_count": 0,
                "favorite_count": 0,
                "purchase_count": 0,
                "total_reviews": 0,
                "published_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 9, 249384),
                "updated_at": datetime(2025, 1, 15, 10, 30, 9, 249384),
                "event_id": "41c9886e-6440-4ddb-b45f-51c3bd65693b",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 9, 249384),
            }
        ],
        "product_variants": [VARIANT_A104_XL_BLACK],
    },
    "product.restored": {
        "products": [
            {
                "product_id": "a104a795bd4aeab02891dd3c",
                "supplier_id": "19de2bc1b4ff00ae3f1347de",
                "supplier_name": "Patel Crafts LLC",
                "name": "Handmade Lamp #619",
                "short_description": DESCRIPTION,
                "category": "fashion",
                "unit_type": "box",
                "base_sku": "SKU-91DD3C",
                "brand": None,
                "base_price_cents": 8312,
                "status": "draft",
                "view_count": 0,
                "favorite_count": 0,
                "purchase_count": 0,
                "total_reviews": 0,
                "published_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 9, 249384),
                "updated_at": datetime(2025, 1, 15, 10, 30, 12, 241088),
                "event_id": "1572c073-8a8f-4aef-969f-6b16766e6900",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 12, 241088),
            }
        ],
        "product_variants": [VARIANT_A104_XL_BLACK],
    },
    "product.out_of_stock": {
        "products": [
            {
                "product_id": "32d1464e402746a4aa785c61",
                "supplier_id": "d5157e9d7bd55ee6965768e0",
                "supplier_name": "Tanaka Crafts LLC",
                "name": "Handmade Lamp #225",
                "short_description": DESCRIPTION,
                "category": "automotive",
                "unit_type": "set",
                "base_sku": "SKU-785C61",
                "brand": None,
                "base_price_cents": 15266,
                "status": "out_of_stock",
                "view_count": 0,
                "favorite_count": 0,
                "purchase_count": 0,
                "total_reviews": 0,
                "published_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 19, 762596),
                "updated_at": datetime(2025, 1, 15, 10, 30, 22, 581787),
                "event_id": "d786e466-d6d0-46d0-b75d-e6f250bc3228",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 22, 581787),
            }
        ],
        "product_variants": VARIANTS_32D1,
    },
    "product.discontinued": {
        "products": [
            {
                "product_id": "32d1464e402746a4aa785c61",
                "supplier_id": "d5157e9d7bd55ee6965768e0",
                "supplier_name": "Tanaka Crafts LLC",
                "name": "Handmade Lamp #225",
                "short_description": DESCRIPTION,
                "category": "automotive",
                "unit_type": "set",
                "base_sku": "SKU-785C61",
                "brand": None,
                "base_price_cents": 15266,
                "status": "discontinued",
                "view_count": 0,
                "favorite_count": 0,
                "purchase_count": 0,
                "total_reviews": 0,
                "published_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 19, 762596),
                "updated_at": datetime(2025, 1, 15, 10, 30, 30, 841504),
                "event_id": "01b8d526-e8f3-4d7e-a327-c967a023ecd5",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 30, 841504),
            }
        ],
        "product_variants": VARIANTS_32D1,
    },
    "product.updated": {
        "products": [
            {
                "product_id": "fbe840360c046d96cbfe2f8d",
                "supplier_id": "19de2bc1b4ff00ae3f1347de",
                "supplier_name": "Patel Crafts LLC",
                "name": "Handmade Mug #646",
                "short_description": DESCRIPTION,
                "category": "books_media",
                "unit_type": "set",
                "base_sku": "SKU-FE2F8D",
                "brand": None,
                "base_price_cents": 1246,
                "status": "out_of_stock",
                "view_count": 45,
                "favorite_count": 0,
                "purchase_count": 0,
                "total_reviews": 0,
                "published_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 28, 565606),
                "updated_at": datetime(2025, 1, 15, 10, 30, 43, 681216),
                "event_id": "3e955df7-5af8-46ef-b93e-081b5273fb71",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 43, 681216),
            }
        ],
        "product_variants": [
            {
                "product_id": "fbe840360c046d96cbfe2f8d",
                "variant_key": "small-green",
                "variant_id": "var-203536",
                "variant_name": "Small Green",
                "attributes_json": size_color("small", "green"),
                "price_cents": 5596,
                "cost_cents": None,
                "quantity": 1,
                "width_cm": 10.5,
                "height_cm": 12.0,
                "depth_cm": 3.25,
                "image_url": "https://cdn.example.com/v/small-green.jpg",
            },
            {
                "product_id": "fbe840360c046d96cbfe2f8d",
                "variant_key": "xl-black",
                "variant_id": "var-717743",
                "variant_name": "Xl Black",
                "attributes_json": size_color("xl", "black"),
                "price_cents": 6989,
                "cost_cents": None,
                "quantity": 60,
                "width_cm": 10.5,
                "height_cm": 12.0,
                "depth_cm": 3.25,
                "image_url": "https://cdn.example.com/v/xl-black.jpg",
            },
        ],
    },
    "product.published": {
        "products": [
            {
                "product_id": "e0f48d2f87c52404b38cd305",
                "supplier_id": "19de2bc1b4ff00ae3f1347de",
                "supplier_name": "Patel Crafts LLC",
                "name": "Handmade Lamp #845",
                "short_description": DESCRIPTION,
                "category": "books_media",
                "unit_type": "pack",
                "base_sku": "SKU-8CD305",
                "brand": None,
                "base_price_cents": 18291,
                "status": "active",
                "view_count": 0,
                "favorite_count": 0,
                "purchase_count": 0,
                "total_reviews": 0,
                "published_at": datetime(2025, 1, 15, 10, 30, 55, 919056),
                "created_at": datetime(2025, 1, 15, 10, 30, 47, 955266),
                "updated_at": datetime(2025, 1, 15, 10, 30, 55, 919056),
                "event_id": "c3e60e90-6e80-4472-846b-cb235eafacd4",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 55, 919056),
            }
        ],
        "product_variants": [
            {
                "product_id": "e0f48d2f87c52404b38cd305",
                "variant_key": "xl-black",
                "variant_id": "var-564327",
                "variant_name": "Xl Black",
                "attributes_json": size_color("xl", "black"),
                "price_cents": 7193,
                "cost_cents": None,
                "quantity": 67,
                "width_cm": 10.5,
                "height_cm": 12.0,
                "depth_cm": 3.25,
                "image_url": None,
            }
        ],
    },
    # Seeded by the product.updated sample (same product, two variants); the hard delete
    # takes the variants with it and leaves only a tombstone.
    "product.deleted": {
        "tombstones": [
            {
                "entity_table": "products",
                "entity_id": "fbe840360c046d96cbfe2f8d",
                "deleted_at": datetime(2025, 1, 15, 10, 31, 16, 968610),
                "event_id": "52fbbadb-e00b-4d83-b646-b25e18d61a25",
            }
        ]
    },
    "post.created": {
        "posts": [
            {
                "post_id": "1235c340b049ec373f63d83b",
                "post_type": "image",
                "author_user_id": "557883744fa50928c30b374c",
                "author_display_name": "Ana Chen",
                "author_avatar": AVATAR,
                "author_type": "leader",
                "text_content": TRICKY_TEXT,
                "media_json": [
                    {
                        "media_type": "image",
                        "media_url": "https://cdn.example.com/p/1.jpg",
                        "thumbnail_url": None,
                        "width": 1080,
                        "height": 1080,
                        "duration_seconds": None,
                        "size_bytes": 123456,
                    }
                ],
                "link_url": "https://example.com/workshop",
                "link_title": "Amazing Ceramic Workshop",
                "link_description": None,
                "link_image": None,
                "link_site_name": "Example.com",
                "view_count": 0,
                "like_count": 0,
                "comment_count": 0,
                "share_count": 0,
                "save_count": 0,
                "engagement_rate": 0.0,
                "last_comment_at": None,
                "deleted_at": None,
                "published_at": None,
                "created_at": datetime(2025, 1, 15, 11, 19, 51, 605516),
                "updated_at": datetime(2025, 1, 15, 11, 19, 51, 605516),
                "event_id": "25e14031-8ce2-4253-bda3-a9d32c4b7c88",
                "event_timestamp": datetime(2025, 1, 15, 11, 19, 51, 605516),
            }
        ]
    },
    "post.updated": {
        "posts": [
            {
                "post_id": "ddbc8dddb8d0c65d1955bf31",
                "post_type": "text",
                "author_user_id": "ec99108ddb5b5fab8f4d3e27",
                "author_display_name": "Li Rossi",
                "author_avatar": AVATAR,
                "author_type": "user",
                "text_content": "Unboxing day 📦 — 𝓯𝓪𝓷𝓬𝔂 text (edited)",
                "media_json": None,
                "link_url": None,
                "link_title": None,
                "link_description": None,
                "link_image": None,
                "link_site_name": None,
                "view_count": 300,
                "like_count": 21,
                "comment_count": 1,
                "share_count": 0,
                "save_count": 0,
                "engagement_rate": 7.3333,
                "last_comment_at": datetime(2025, 1, 15, 10, 30, 53, 4858),
                "deleted_at": None,
                "published_at": None,
                "created_at": datetime(2025, 1, 15, 10, 30, 35, 640907),
                "updated_at": datetime(2025, 1, 15, 10, 30, 53, 4858),
                "event_id": "478e5850-421d-4b0a-832c-4da8ce08c67d",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 53, 4858),
            }
        ]
    },
    "post.published": {
        "posts": [
            {
                "post_id": "24aa17344d1079ab5e320f4a",
                "post_type": "text",
                "author_user_id": "ec99108ddb5b5fab8f4d3e27",
                "author_display_name": "Li Rossi",
                "author_avatar": AVATAR,
                "author_type": "leader",
                "text_content": TRICKY_TEXT,
                "media_json": None,
                "link_url": None,
                "link_title": None,
                "link_description": None,
                "link_image": None,
                "link_site_name": None,
                "view_count": 0,
                "like_count": 0,
                "comment_count": 0,
                "share_count": 0,
                "save_count": 0,
                "engagement_rate": 0.0,
                "last_comment_at": None,
                "deleted_at": None,
                "published_at": datetime(2025, 1, 15, 10, 30, 25, 926632),
                "created_at": datetime(2025, 1, 15, 10, 30, 17, 102681),
                "updated_at": datetime(2025, 1, 15, 10, 30, 25, 926632),
                "event_id": "44339c10-d465-4689-84eb-26e0065479e4",
                "event_timestamp": datetime(2025, 1, 15, 10, 30, 25, 926632),
            }
        ]
    },
    # Seeded by a copy of post.published; the soft delete keeps the row.
    "post.deleted": {
        "posts": [
            {
                "post_id": "b716dabfa642e49dec6e9c6b",
                "post_type": "text",
                "author_user_id": "ec99108ddb5b5fab8f4d3e27",
                "author_display_name": "Li Rossi",
                "author_avatar": AVATAR,
                "author_type": "leader",
                "text_content": TRICKY_TEXT,
                "media_json": None,
                "link_url": None,
                "link_title": None,
                "link_description": None,
                "link_image": None,
                "link_site_name": None,
                "view_count": 0,
                "like_count": 0,
                "comment_count": 0,
                "share_count": 0,
                "save_count": 0,
                "engagement_rate": 0.0,
                "last_comment_at": None,
                "deleted_at": datetime(2025, 1, 15, 10, 34, 2, 780856),
                "published_at": datetime(2025, 1, 15, 10, 30, 25, 926632),
                "created_at": datetime(2025, 1, 15, 10, 30, 17, 102681),
                "updated_at": datetime(2025, 1, 15, 10, 30, 25, 926632),
                "event_id": "161e4bcf-2b65-47c9-aee9-7b5750f3ed7e",
                "event_timestamp": datetime(2025, 1, 15, 10, 34, 2, 780856),
            }
        ]
    },
    "order.created": {
        "orders": [
            {
                "order_id": "4d13472248e13ae354e3d0a9",
                "order_number": "ORD-20250115-B4A3",
                "customer_user_id": "1a33c8c580a166c6c8b92cae",
                "customer_display_name": "Kwame Smith",
                "customer_email": "kwame.b92cae@example.com",
                "customer_phone": None,
                "shipping_recipient_name": "Kwame Smith",
                "shipping_phone": None,
                "shipping_street_1": "456 Oak Ave",
                "shipping_street_2": "Apt 7B",
                "shipping_city": "Austin",
                "shipping_state": "TX",
                "shipping_zip_code": "73301",
                "shipping_country": "US",
                "status": "pending",
                "created_at": datetime(2025, 1, 15, 12, 34, 16, 952115),
                "updated_at": datetime(2025, 1, 15, 12, 34, 16, 952115),
                "event_id": "06c4c4a8-7197-4b2d-a2ed-6b7403f4dcae",
                "event_timestamp": datetime(2025, 1, 15, 12, 34, 16, 952115),
            }
        ],
        "order_items": order_items_of("4d13472248e13ae354e3d0a9"),
    },
    # Seeded by a copy of order.created (order D575, created at 10:31:05); the
    # cancellation moves only the status and the event columns, and keeps the items.
    "order.cancelled": {
        "orders": [
            {
                "order_id": "d383f380c1cdcb4d691d71a5",
                "order_number": "ORD-20250115-D575",
                "customer_user_id": "1a33c8c580a166c6c8b92cae",
                "customer_display_name": "Kwame Smith",
                "customer_email": "kwame.b92cae@example.com",
                "customer_phone": None,
                "shipping_recipient_name": "Kwame Smith",
                "shipping_phone": None,
                "shipping_street_1": "456 Oak Ave",
                "shipping_street_2": "Apt 7B",
                "shipping_city": "Austin",
                "shipping_state": "TX",
                "shipping_zip_code": "73301",
                "shipping_country": "US",
                "status": "cancelled",
                "created_at": datetime(2025, 1, 15, 10, 31, 5),
                "updated_at": datetime(2025, 1, 15, 10, 31, 5),
                "event_id": "a29b728e-fdb2-4b3b-a989-6d3cbdc16576",
                "event_timestamp": datetime(2025, 1, 15, 10, 31, 31, 469635),
            }
        ],
        "order_items": order_items_of("d383f380c1cdcb4d691d71a5"),
    },
}

# Secrets carried by the samples: they must not be stored anywhere.
SECRETS = {
    "user.created": ["$2b$12$ml64lg2tjf8cz2ka7edcmpb3u2m7os5af3r09fquo6sbegzgsyeba"],
    "user.updated": ["$2b$12$ml64lg2tjf8cz2ka7edcmpb3u2m7os5af3r09fquo6sbegzgsyeba"],
    "supplier.created": ["$2b$12$secretsecretsecretsecretsecret", "First Bank", "4242"],
    "supplier.updated": ["$2b$12$secretsecretsecretsecretsecret", "First Bank", "4242"],
}
ALL_SECRETS = sorted({secret for secrets in SECRETS.values() for secret in secrets})


def stored_texts(contents: Contents) -> list[tuple[str, str, str]]:
    """(table, column, text) for every string, bytes and JSON value stored in any table."""
    texts: list[tuple[str, str, str]] = []
    for table_name, table_rows in contents.items():
        for row in table_rows:
            for column, value in row.items():
                if isinstance(value, str):
                    texts.append((table_name, column, value))
                elif isinstance(value, bytes):
                    texts.append((table_name, column, value.decode("utf-8", "replace")))
                elif isinstance(value, list | dict):
                    texts.append((table_name, column, json.dumps(value, ensure_ascii=False)))
    return texts


# --- Tests ------------------------------------------------------------------------------


def test_every_sample_has_expected_rows() -> None:
    assert sorted(EXPECTED) == SAMPLE_TYPES
    assert len(SAMPLE_TYPES) == 19


@pytest.mark.parametrize("event_type", SAMPLE_TYPES)
def test_sample_rows(engine: sa.Engine, event_type: str) -> None:
    apply_sample(engine, event_type)

    assert without_surrogate_ids(read_all(engine)) == only(EXPECTED[event_type])


def test_product_deleted_takes_the_seeded_variants_with_it(engine: sa.Engine) -> None:
    apply_applied(engine, product_seed())
    seeded = read_all(engine)
    assert [row["product_id"] for row in seeded["products"]] == ["fbe840360c046d96cbfe2f8d"]
    assert [row["variant_key"] for row in seeded["product_variants"]] == [
        "small-green",
        "xl-black",
    ]

    apply_applied(engine, sample_event("product.deleted"))

    assert without_surrogate_ids(read_all(engine)) == only(EXPECTED["product.deleted"])


def test_order_cancelled_keeps_the_seeded_items_unchanged(engine: sa.Engine) -> None:
    apply_applied(engine, order_seed())
    items_before = read_all(engine)["order_items"]
    assert len(items_before) == 2

    apply_applied(engine, sample_event("order.cancelled"))

    assert read_all(engine)["order_items"] == items_before


@pytest.mark.parametrize("event_type", ["user.deleted", "post.deleted", "order.cancelled"])
def test_soft_delete_or_cancel_of_unknown_entity_is_rejected(
    engine: sa.Engine, event_type: str
) -> None:
    result = apply_one(engine, sample_event(event_type))

    assert result.applied == []
    assert result.stale == []
    assert [rejection.index for rejection in result.rejected] == [0]
    assert result.rejected[0].error.reason is Reason.UNKNOWN_ENTITY
    assert read_all(engine) == only({})


@pytest.mark.parametrize("event_type", ["supplier.deleted", "product.deleted"])
def test_hard_delete_of_unknown_entity_leaves_a_tombstone(
    engine: sa.Engine, event_type: str
) -> None:
    result = apply_one(engine, sample_event(event_type))

    assert result.rejected == []
    assert result.applied == [0]
    assert read_all(engine) == only(EXPECTED[event_type])


@pytest.mark.parametrize("event_type", SAMPLE_TYPES)
def test_same_message_twice_gives_the_same_rows(engine: sa.Engine, event_type: str) -> None:
    apply_sample(engine, event_type)
    once = read_all(engine)

    again = apply_one(engine, sample_event(event_type))

    assert again.rejected == []
    assert read_all(engine) == once


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("user.created", "user.updated"),
        ("supplier.created", "supplier.updated"),
        ("product.created", "product.restored"),
        ("product.out_of_stock", "product.discontinued"),
    ],
)
def test_later_snapshot_wins_in_either_order(engine: sa.Engine, earlier: str, later: str) -> None:
    apply_applied(engine, sample_event(earlier))
    apply_applied(engine, sample_event(later))
    assert without_surrogate_ids(read_all(engine)) == only(EXPECTED[later])

    stale = apply_one(engine, sample_event(earlier))

    assert stale.stale == [0]
    assert stale.applied == []
    assert stale.rejected == []
    assert without_surrogate_ids(read_all(engine)) == only(EXPECTED[later])


def test_secrets_are_in_the_samples() -> None:
    for event_type, secrets in SECRETS.items():
        raw = sample_bytes(event_type).decode()
        for secret in secrets:
            assert secret in raw, (event_type, secret)


@pytest.mark.parametrize("event_type", SAMPLE_TYPES)
def test_no_secret_is_stored(engine: sa.Engine, event_type: str) -> None:
    apply_sample(engine, event_type)

    texts = stored_texts(read_all(engine))

    assert texts, "the sample stored no text at all"
    leaks = [
        (table, column, secret)
        for table, column, text in texts
        for secret in ALL_SECRETS
        if secret in text
    ]
    assert leaks == []
