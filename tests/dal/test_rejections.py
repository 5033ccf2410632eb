"""A row the server refuses is dead-lettered with the server's message, its values shown
only as identifiers."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from analytics.dal.apply import describe_database_error
from analytics.schema import tombstones
from analytics.secrets import DEFAULT_SECRETS


def refusal(engine: sa.Engine, entity_id: str) -> sa.exc.DBAPIError:
    """The server's own error for a second row with one primary key."""
    row = {"entity_table": "users", "entity_id": entity_id, "deleted_at": datetime(2025, 1, 1)}
    with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError) as caught:
        connection.execute(tombstones.insert(), [row, row])
    return caught.value


@pytest.mark.parametrize(
    ("entity_id", "shown"),
    [
        ("ec99108ddb5b5fab8f4d3e27", "users-ec99108ddb5b5fab8f4d3e27"),
        ("api_key=hunter2", "<21 characters>"),  # the key's columns, joined by the server
    ],
)
def test_a_duplicate_entry_shows_the_key_and_the_value_only_as_an_identifier(
    mysql_only: sa.Engine, entity_id: str, shown: str
) -> None:
    detail = describe_database_error(refusal(mysql_only, entity_id), DEFAULT_SECRETS)
    assert detail == f"(1062) Duplicate entry {shown} for key 'PRIMARY'"


def test_sqlite_names_the_columns_and_no_values(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as connection:
        connection.execute(tombstones.delete())
    detail = describe_database_error(refusal(sqlite_engine, "api_key=hunter2"), DEFAULT_SECRETS)
    assert detail == "UNIQUE constraint failed: tombstones.entity_table, tombstones.entity_id"
