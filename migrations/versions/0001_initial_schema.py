"""Initial schema: the seven read-model tables, tombstones and dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 10:44:30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import TypeCompiler

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# This revision's DDL must never change with the live schema code, so the types it
# needs are defined here, as they were when it was released.
class ExactString(sa.String):
    """VARCHAR compared byte for byte, trailing spaces included (binary NO PAD collation)."""

    cache_ok = True


@compiles(ExactString, "mysql")
@compiles(ExactString, "mariadb")
def _exact_string_mysql(type_: ExactString, compiler: TypeCompiler, **kw: Any) -> str:
    mariadb = getattr(compiler.dialect, "is_mariadb", False)
    collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
    return f"VARCHAR({type_.length}) COLLATE {collation}"


@compiles(ExactString)
def _exact_string_default(type_: ExactString, compiler: TypeCompiler, **kw: Any) -> str:
    return f"VARCHAR({type_.length})"


DATETIME6 = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LONGBLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# mysql_* options apply to mysql:// URLs, mariadb_* ones to mariadb:// URLs.
TABLE_OPTIONS: dict[str, Any] = {
    f"{dialect}_{option}": value
    for dialect in ("mysql", "mariadb")
    for option, value in (
        ("engine", "InnoDB"),
        ("charset", "utf8mb4"),
        ("collate", "utf8mb4_unicode_ci"),
    )
}


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("topic", ExactString(249), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
        sa.Column("kafka_key", LONGBLOB, nullable=True),
        sa.Column("raw_value", LONGBLOB, nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.Column("entity_id", sa.String(length=100), nullable=True),
        sa.Column("error_class", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_failed_at", DATETIME6, nullable=False),
        sa.Column("last_failed_at", DATETIME6, nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("replayed_at", DATETIME6, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint(
            "topic", "kafka_partition", "kafka_offset", name="uq_dead_letters_source"
        ),
        **TABLE_OPTIONS,
    )
    op.create_index("idx_dead_letters_error_class", "dead_letters", ["error_class"], unique=False)
    op.create_index(
        "idx_dead_letters_first_failed", "dead_letters", ["first_failed_at"], unique=False
    )
    op.create_index("idx_dead_letters_status", "dead_letters", ["status"], unique=False)
    op.create_table(
        "orders",
        sa.Column("order_id", ExactString(24), nullable=False),
        sa.Column("order_number", ExactString(50), nullable=False),
        sa.Column("customer_user_id", ExactString(24), nullable=False),
        sa.Column("customer_display_name", sa.String(length=200), nullable=True),
        sa.Column("customer_email", sa.String(length=255), nullable=True),
        sa.Column("customer_phone", sa.String(length=50), nullable=True),
        sa.Column("shipping_recipient_name", sa.String(length=200), nullable=True),
        sa.Column("shipping_phone", sa.String(length=50), nullable=True),
        sa.Column("shipping_street_1", sa.String(length=200), nullable=True),
        sa.Column("shipping_street_2", sa.String(length=200), nullable=True),
        sa.Column("shipping_city", sa.String(length=100), nullable=True),
        sa.Column("shipping_state", sa.String(length=100), nullable=True),
        sa.Column("shipping_zip_code", sa.String(length=20), nullable=True),
        sa.Column("shipping_country", sa.String(length=2), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", DATETIME6, nullable=False),
        sa.Column("updated_at", DATETIME6, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("event_timestamp", DATETIME6, nullable=True),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_number", name="uq_order_number"),
        **TABLE_OPTIONS,
    )
    op.create_index("idx_orders_created", "orders", ["created_at"], unique=False)
    op.create_index("idx_orders_customer", "orders", ["customer_user_id"], unique=False)
    op.create_index("idx_orders_status", "orders", ["status"], unique=False)
    op.create_table(
        "posts",
        sa.Column("post_id", ExactString(24), nullable=False),
        sa.Column("post_type", sa.String(length=20), nullable=False),
        sa.Column("author_user_id", ExactString(24), nullable=False),
        sa.Column("author_display_name", sa.String(length=200), nullable=True),
        sa.Column("author_avatar", sa.Text(), nullable=True),
        sa.Column("author_type", sa.String(length=20), nullable=True),
        sa.Column("text_content", sa.Text(), nullable=True),
        sa.Column("media_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("link_url", sa.Text(), nullable=True),
        sa.Column("link_title", sa.String(length=200), nullable=True),
        sa.Column("link_description", sa.String(length=500), nullable=True),
        sa.Column("link_image", sa.Text(), nullable=True),
        sa.Column("link_site_name", sa.String(length=200), nullable=True),
        sa.Column("view_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("like_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("comment_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("share_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("save_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("engagement_rate", sa.Double(), server_default=sa.text("0"), nullable=True),
        sa.Column("last_comment_at", DATETIME6, nullable=True),
        sa.Column("deleted_at", DATETIME6, nullable=True),
        sa.Column("published_at", DATETIME6, nullable=True),
        sa.Column("created_at", DATETIME6, nullable=False),
        sa.Column("updated_at", DATETIME6, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("event_timestamp", DATETIME6, nullable=True),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_posts")),
        **TABLE_OPTIONS,
    )
    op.create_index("idx_posts_author", "posts", ["author_user_id"], unique=False)
    op.create_index("idx_posts_created", "posts", ["created_at"], unique=False)
    op.create_index("idx_posts_published", "posts", ["published_at"], unique=False)
    op.create_index("idx_posts_type", "posts", ["post_type"], unique=False)
    op.create_table(
        "products",
        sa.Column("product_id", ExactString(24), nullable=False),
        sa.Column("supplier_id", ExactString(24), nullable=False),
        sa.Column("supplier_name", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("short_description", sa.String(length=500), nullable=True),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("unit_type", sa.String(length=20), nullable=False),
        sa.Column("base_sku", sa.String(length=100), nullable=True),
        sa.Column("brand", sa.String(length=100), nullable=True),
        sa.Column("base_price_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("view_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("favorite_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("purchase_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("total_reviews", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("published_at", DATETIME6, nullable=True),
        sa.Column("created_at", DATETIME6, nullable=False),
        sa.Column("updated_at", DATETIME6, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("event_timestamp", DATETIME6, nullable=True),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_products")),
        **TABLE_OPTIONS,
    )
    op.create_index("idx_products_category", "products", ["category"], unique=False)
    op.create_index("idx_products_created", "products", ["created_at"], unique=False)
    op.create_index("idx_products_status", "products", ["status"], unique=False)
    op.create_index("idx_products_supplier", "products", ["supplier_id"], unique=False)
    op.create_table(
        "suppliers",
        sa.Column("supplier_id", ExactString(24), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("primary_phone", sa.String(length=50), nullable=False),
        sa.Column("contact_person_name", sa.String(length=200), nullable=True),
        sa.Column("contact_person_title", sa.String(length=200), nullable=True),
        sa.Column("contact_person_email", sa.String(length=255), nullable=True),
        sa.Column("contact_person_phone", sa.String(length=50), nullable=True),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("dba_name", sa.String(length=200), nullable=True),
        sa.Column("street_address_1", sa.String(length=200), nullable=True),
        sa.Column("street_address_2", sa.String(length=200), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=100), nullable=True),
        sa.Column("zip_code", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("support_email", sa.String(length=255), nullable=True),
        sa.Column("support_phone", sa.String(length=50), nullable=True),
        sa.Column("facebook_url", sa.Text(), nullable=True),
        sa.Column("instagram_handle", sa.String(length=100), nullable=True),
        sa.Column("twitter_handle", sa.String(length=100), nullable=True),
        sa.Column("linkedin_url", sa.Text(), nullable=True),
        sa.Column("timezone", sa.String(length=50), nullable=True),
        sa.Column("created_at", DATETIME6, nullable=False),
        sa.Column("updated_at", DATETIME6, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("event_timestamp", DATETIME6, nullable=True),
        sa.PrimaryKeyConstraint("supplier_id", name=op.f("pk_suppliers")),
        **TABLE_OPTIONS,
    )
    op.create_index(
        "idx_suppliers_country", "suppliers", ["country", "state", "city"], unique=False
    )
    op.create_index("idx_suppliers_email", "suppliers", ["email"], unique=False)
    op.create_index("idx_suppliers_legal_name", "suppliers", ["legal_name"], unique=False)
    op.create_table(
        "tombstones",
        sa.Column("entity_table", sa.String(length=30), nullable=False),
        sa.Column("entity_id", ExactString(24), nullable=False),
        sa.Column("deleted_at", DATETIME6, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("entity_table", "entity_id", name=op.f("pk_tombstones")),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "users",
        sa.Column("user_id", ExactString(24), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("avatar", sa.Text(), nullable=True),
        sa.Column("bio", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=True),
        sa.Column("deleted_at", DATETIME6, nullable=True),
        sa.Column("created_at", DATETIME6, nullable=False),
        sa.Column("updated_at", DATETIME6, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("event_timestamp", DATETIME6, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        **TABLE_OPTIONS,
    )
    op.create_index("idx_users_created", "users", ["created_at"], unique=False)
    op.create_index("idx_users_email", "users", ["email"], unique=False)
    op.create_table(
        "order_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", ExactString(24), nullable=False),
        sa.Column("item_id", ExactString(50), nullable=False),
        sa.Column("product_id", ExactString(24), nullable=False),
        sa.Column("supplier_id", ExactString(24), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=True),
        sa.Column("variant_name", sa.String(length=200), nullable=True),
        sa.Column("variant_attributes_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("supplier_name", sa.String(length=200), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_cents", sa.Integer(), nullable=False),
        sa.Column("final_price_cents", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("fulfillment_status", sa.String(length=20), nullable=True),
        sa.Column("shipped_quantity", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("shipped_at", DATETIME6, nullable=True),
        sa.Column("delivered_at", DATETIME6, nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name="fk_items_order", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
        sa.UniqueConstraint("order_id", "item_id", name="uq_order_item"),
        **TABLE_OPTIONS,
    )
    op.create_index("idx_items_order", "order_items", ["order_id"], unique=False)
    op.create_index("idx_items_product", "order_items", ["product_id"], unique=False)
    op.create_table(
        "product_variants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", ExactString(24), nullable=False),
        sa.Column("variant_key", ExactString(200), nullable=False),
        sa.Column("variant_id", ExactString(100), nullable=False),
        sa.Column("variant_name", sa.String(length=200), nullable=False),
        sa.Column("attributes_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("cost_cents", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("width_cm", sa.Double(), nullable=True),
        sa.Column("height_cm", sa.Double(), nullable=True),
        sa.Column("depth_cm", sa.Double(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.product_id"], name="fk_variants_product", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_variants")),
        sa.UniqueConstraint("product_id", "variant_key", name="uq_product_variant"),
        **TABLE_OPTIONS,
    )
    op.create_index("idx_variants_product", "product_variants", ["product_id"], unique=False)


def downgrade() -> None:
    op.drop_table("order_items")
    op.drop_table("product_variants")
    op.drop_table("orders")
    op.drop_table("posts")
    op.drop_table("products")
    op.drop_table("suppliers")
    op.drop_table("users")
    op.drop_table("tombstones")
    op.drop_table("dead_letters")
