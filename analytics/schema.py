"""The analytics read model as SQLAlchemy Core tables: the single source of truth for DDL.

Alembic revisions are written from these objects and `alembic check` compares a live
database against them, so a change here without a revision fails the test run.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import TypeCompiler

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Collations that compare byte for byte and do not ignore trailing spaces (NO PAD):
# with a PAD SPACE collation such as utf8mb4_bin, 'red' and 'red ' would be one key.
MYSQL_EXACT_COLLATION = "utf8mb4_0900_bin"
MARIADB_EXACT_COLLATION = "utf8mb4_nopad_bin"
TABLE_COLLATION = "utf8mb4_unicode_ci"


class ExactString(sa.String):
    """VARCHAR compared exactly as the source compares it: case-, accent- and space-sensitive.

    Used for every identifier and business key so that two different source values can
    never meet in one primary or unique key. On SQLite the default BINARY collation
    already behaves this way.
    """

    cache_ok = True


def exact_collation(dialect: sa.Dialect) -> str:
    return (
        MARIADB_EXACT_COLLATION if getattr(dialect, "is_mariadb", False) else MYSQL_EXACT_COLLATION
    )


@compiles(ExactString, "mysql")
@compiles(ExactString, "mariadb")
def _exact_string_mysql(type_: ExactString, compiler: TypeCompiler, **kw: Any) -> str:
    return f"VARCHAR({type_.length}) COLLATE {exact_collation(compiler.dialect)}"


@compiles(ExactString)
def _exact_string_default(type_: ExactString, compiler: TypeCompiler, **kw: Any) -> str:
    return f"VARCHAR({type_.length})"


# UTC wall-clock time with microseconds; SQLite stores SQLAlchemy's ISO text form.
UtcDateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# Python None is SQL NULL, never the JSON literal 'null'.
Json = sa.JSON(none_as_null=True)

# Raw message bytes of any size a broker accepts.
LongBlob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

# 64-bit surrogate ids (upserts burn AUTO_INCREMENT values; 32 bits would run out);
# SQLite only auto-increments INTEGER, which is 64 bits there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# SQLAlchemy reads mysql_* options for mysql:// URLs and mariadb_* ones for mariadb:// URLs.
TABLE_OPTIONS: dict[str, Any] = {
    f"{dialect}_{option}": value
    for dialect in ("mysql", "mariadb")
    for option, value in (
        ("engine", "InnoDB"),
        ("charset", "utf8mb4"),
        ("collate", TABLE_COLLATION),
    )
}


def _id(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, ExactString(24), **kw)


def _event_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("event_timestamp", UtcDateTime, nullable=True),
    ]


def _zero(name: str, type_: sa.types.TypeEngine[Any] | None = None) -> sa.Column[Any]:
    return sa.Column(name, type_ or sa.Integer(), nullable=True, server_default=sa.text("0"))


users = sa.Table(
    "users",
    metadata,
    _id("user_id", primary_key=True),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("phone", sa.String(50)),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("avatar", sa.Text()),
    sa.Column("bio", sa.String(500)),
    sa.Column("version", sa.Integer(), server_default=sa.text("1")),
    sa.Column("deleted_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    *_event_columns(),
    sa.Index("idx_users_email", "email"),
    sa.Index("idx_users_created", "created_at"),
    **TABLE_OPTIONS,
)

suppliers = sa.Table(
    "suppliers",
    metadata,
    _id("supplier_id", primary_key=True),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("primary_phone", sa.String(50), nullable=False),
    sa.Column("contact_person_name", sa.String(200)),
    sa.Column("contact_person_title", sa.String(200)),
    sa.Column("contact_person_email", sa.String(255)),
    sa.Column("contact_person_phone", sa.String(50)),
    sa.Column("legal_name", sa.String(200), nullable=False),
    sa.Column("dba_name", sa.String(200)),
    sa.Column("street_address_1", sa.String(200)),
    sa.Column("street_address_2", sa.String(200)),
    sa.Column("city", sa.String(100)),
    sa.Column("state", sa.String(100)),
    sa.Column("zip_code", sa.String(20)),
    sa.Column("country", sa.String(2)),
    sa.Column("support_email", sa.String(255)),
    sa.Column("support_phone", sa.String(50)),
    sa.Column("facebook_url", sa.Text()),
    sa.Column("instagram_handle", sa.String(100)),
    sa.Column("twitter_handle", sa.String(100)),
    sa.Column("linkedin_url", sa.Text()),
    sa.Column("timezone", sa.String(50)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    *_event_columns(),
    sa.Index("idx_suppliers_email", "email"),
    sa.Index("idx_suppliers_legal_name", "legal_name"),
    sa.Index("idx_suppliers_country", "country", "state", "city"),
    **TABLE_OPTIONS,
)

products = sa.Table(
    "products",
    metadata,
    _id("product_id", primary_key=True),
    _id("supplier_id", nullable=False),
    sa.Column("supplier_name", sa.String(200)),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("short_description", sa.String(500)),
    sa.Column("category", sa.String(50), nullable=False),
    sa.Column("unit_type", sa.String(20), nullable=False),
    sa.Column("base_sku", sa.String(100)),
    sa.Column("brand", sa.String(100)),
    sa.Column("base_price_cents", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    _zero("view_count"),
    _zero("favorite_count"),
    _zero("purchase_count"),
    _zero("total_reviews"),
    sa.Column("published_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    *_event_columns(),
    sa.Index("idx_products_supplier", "supplier_id"),
    sa.Index("idx_products_category", "category"),
    sa.Index("idx_products_status", "status"),
    sa.Index("idx_products_created", "created_at"),
    **TABLE_OPTIONS,
)

product_variants = sa.Table(
    "product_variants",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _id("product_id", nullable=False),
    sa.Column("variant_key", ExactString(200), nullable=False),
    sa.Column("variant_id", ExactString(100), nullable=False),
    sa.Column("variant_name", sa.String(200), nullable=False),
    sa.Column("attributes_json", Json),
    sa.Column("price_cents", sa.Integer(), nullable=False),
    sa.Column("cost_cents", sa.Integer()),
    _zero("quantity"),
    sa.Column("width_cm", sa.Double()),
    sa.Column("height_cm", sa.Double()),
    sa.Column("depth_cm", sa.Double()),
    sa.Column("image_url", sa.Text()),
    sa.UniqueConstraint("product_id", "variant_key", name="uq_product_variant"),
    sa.Index("idx_variants_product", "product_id"),
    sa.ForeignKeyConstraint(
        ["product_id"],
        ["products.product_id"],
        name="fk_variants_product",
        ondelete="CASCADE",
    ),
    **TABLE_OPTIONS,
)

posts = sa.Table(
    "posts",
    metadata,
    _id("post_id", primary_key=True),
    sa.Column("post_type", sa.String(20), nullable=False),
    _id("author_user_id", nullable=False),
    sa.Column("author_display_name", sa.String(200)),
    sa.Column("author_avatar", sa.Text()),
    sa.Column("author_type", sa.String(20)),
    sa.Column("text_content", sa.Text()),
    sa.Column("media_json", Json),
    sa.Column("link_url", sa.Text()),
    sa.Column("link_title", sa.String(200)),
    sa.Column("link_description", sa.String(500)),
    sa.Column("link_image", sa.Text()),
    sa.Column("link_site_name", sa.String(200)),
    _zero("view_count"),
    _zero("like_count"),
    _zero("comment_count"),
    _zero("share_count"),
    _zero("save_count"),
    _zero("engagement_rate", sa.Double()),
    sa.Column("last_comment_at", UtcDateTime),
    sa.Column("deleted_at", UtcDateTime),
    sa.Column("published_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    *_event_columns(),
    sa.Index("idx_posts_author", "author_user_id"),
    sa.Index("idx_posts_type", "post_type"),
    sa.Index("idx_posts_published", "published_at"),
    sa.Index("idx_posts_created", "created_at"),
    **TABLE_OPTIONS,
)

orders = sa.Table(
    "orders",
    metadata,
    _id("order_id", primary_key=True),
    sa.Column("order_number", ExactString(50), nullable=False),
    _id("customer_user_id", nullable=False),
    sa.Column("customer_display_name", sa.String(200)),
    sa.Column("customer_email", sa.String(255)),
    sa.Column("customer_phone", sa.String(50)),
    sa.Column("shipping_recipient_name", sa.String(200)),
    sa.Column("shipping_phone", sa.String(50)),
    sa.Column("shipping_street_1", sa.String(200)),
    sa.Column("shipping_street_2", sa.String(200)),
    sa.Column("shipping_city", sa.String(100)),
    sa.Column("shipping_state", sa.String(100)),
    sa.Column("shipping_zip_code", sa.String(20)),
    sa.Column("shipping_country", sa.String(2)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    *_event_columns(),
    sa.UniqueConstraint("order_number", name="uq_order_number"),
    sa.Index("idx_orders_customer", "customer_user_id"),
    sa.Index("idx_orders_status", "status"),
    sa.Index("idx_orders_created", "created_at"),
    **TABLE_OPTIONS,
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _id("order_id", nullable=False),
    sa.Column("item_id", ExactString(50), nullable=False),
    _id("product_id", nullable=False),
    _id("supplier_id", nullable=False),
    sa.Column("product_name", sa.String(200)),
    sa.Column("variant_name", sa.String(200)),
    sa.Column("variant_attributes_json", Json),
    sa.Column("image_url", sa.Text()),
    sa.Column("supplier_name", sa.String(200)),
    sa.Column("quantity", sa.Integer(), nullable=False),
    sa.Column("unit_price_cents", sa.Integer(), nullable=False),
    sa.Column("final_price_cents", sa.Integer(), nullable=False),
    sa.Column("total_cents", sa.Integer(), nullable=False),
    sa.Column("fulfillment_status", sa.String(20)),
    _zero("shipped_quantity"),
    sa.Column("tracking_number", sa.String(100)),
    sa.Column("carrier", sa.String(100)),
    sa.Column("shipped_at", UtcDateTime),
    sa.Column("delivered_at", UtcDateTime),
    sa.UniqueConstraint("order_id", "item_id", name="uq_order_item"),
    sa.Index("idx_items_order", "order_id"),
    sa.Index("idx_items_product", "product_id"),
    sa.ForeignKeyConstraint(
        ["order_id"],
        ["orders.order_id"],
        name="fk_items_order",
        ondelete="CASCADE",
    ),
    **TABLE_OPTIONS,
)

# --- Operational tables (ours) -------------------------------------------------------

# A hard delete leaves its timestamp here, so that a stale snapshot arriving after the
# delete cannot resurrect the row (the row that would have guarded it is gone).
tombstones = sa.Table(
    "tombstones",
    metadata,
    sa.Column("entity_table", sa.String(30), primary_key=True),
    _id("entity_id", primary_key=True),
    sa.Column("deleted_at", UtcDateTime, nullable=False),
    sa.Column("event_id", sa.String(36)),
    **TABLE_OPTIONS,
)

# Every consumed message that could not be applied. One row per source message (its
# coordinates and its hash), so a redelivered message updates its dead letter instead of
# adding a second one.
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("topic", ExactString(249), nullable=False),
    sa.Column("kafka_partition", sa.Integer(), nullable=False),
    sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
    sa.Column("kafka_key", LongBlob),
    sa.Column("raw_value", LongBlob),
    sa.Column("event_type", sa.String(100)),
    sa.Column("event_id", sa.String(100)),
    sa.Column("entity_id", sa.String(100)),
    sa.Column("error_class", sa.String(50), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("first_failed_at", UtcDateTime, nullable=False),
    sa.Column("last_failed_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("replayed_at", UtcDateTime),
    # SHA-256 (hex) of the message's key and value: part of the letter's identity, so two
    # different messages at the same coordinates never share (and overwrite) one row.
    sa.Column("message_hash", sa.CHAR(64)),
    sa.Column("message_bytes", sa.BigInteger()),  # size of the value as it arrived
    sa.UniqueConstraint(
        "topic", "kafka_partition", "kafka_offset", "message_hash", name="uq_dead_letters_source"
    ),
    sa.Index("idx_dead_letters_error_class", "error_class"),
    sa.Index("idx_dead_letters_status", "status"),
    sa.Index("idx_dead_letters_first_failed", "first_failed_at"),
    **TABLE_OPTIONS,
)

READ_MODEL_TABLES = (users, suppliers, products, product_variants, posts, orders, order_items)
