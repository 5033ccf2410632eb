"""64-bit child ids; a dead letter's identity includes its message's hash.

`product_variants.id` and `order_items.id` become BIGINT: every upsert that updates an
existing child row still reserves an AUTO_INCREMENT value, so a 32-bit id runs out after
about two billion updates (weeks at a thousand events a second). This deviates from the
seed DDL on purpose.

`dead_letters` gains `message_hash` (SHA-256 of the message's key and value, hex) and
`message_bytes` (the value's size), and its unique key covers the hash: two different
messages at the same coordinates (two files with the same name, a recreated topic) keep
two letters instead of one overwriting the other. Letters recorded before this revision
have no hash (NULL, which never collides).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHILD_TABLES = ("product_variants", "order_items")


def _is_sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    if not _is_sqlite():
        # SQLite's INTEGER PRIMARY KEY is already 64 bits.
        for table in CHILD_TABLES:
            op.alter_column(
                table,
                "id",
                existing_type=sa.Integer(),
                type_=sa.BigInteger(),
                existing_nullable=False,
                autoincrement=True,
            )
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("message_hash", sa.CHAR(64), nullable=True))
        batch.add_column(sa.Column("message_bytes", sa.BigInteger(), nullable=True))
        batch.drop_constraint("uq_dead_letters_source", type_="unique")
        batch.create_unique_constraint(
            "uq_dead_letters_source",
            ["topic", "kafka_partition", "kafka_offset", "message_hash"],
        )


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_constraint("uq_dead_letters_source", type_="unique")
        # Letters that share coordinates cannot all stay under the old key.
        batch.create_unique_constraint(
            "uq_dead_letters_source", ["topic", "kafka_partition", "kafka_offset"]
        )
        batch.drop_column("message_bytes")
        batch.drop_column("message_hash")
    if not _is_sqlite():
        for table in CHILD_TABLES:
            op.alter_column(
                table,
                "id",
                existing_type=sa.BigInteger(),
                type_=sa.Integer(),
                existing_nullable=False,
                autoincrement=True,
            )
