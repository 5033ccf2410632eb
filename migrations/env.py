"""Alembic environment: wires the project's metadata, URL and type comparison; nothing else."""

from __future__ import annotations

from typing import Any

from alembic import context

from analytics.db import create_engine, database_url
from analytics.migrate import compare_type, render_item
from analytics.schema import metadata

config = context.config
options: dict[str, Any] = {
    "target_metadata": metadata,
    "compare_type": compare_type,
    "compare_server_default": True,
    "render_item": render_item,
}


def run_offline() -> None:
    context.configure(
        url=config.attributes.get("database_url") or database_url(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(config.attributes.get("database_url") or database_url())
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
