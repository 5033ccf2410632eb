"""`analytics load`: files through the batch pipeline into the read model."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from analytics.cli import app
from analytics.db import create_engine
from analytics.schema import dead_letters, users
from tests.samples import SAMPLES, sample_bytes

runner = CliRunner()


def test_load_migrates_the_embedded_database_and_applies_samples(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'analytics.db'}"
    files = sorted(str(path) for path in SAMPLES.glob("*.json"))
    result = runner.invoke(app, ["load", "--database-url", url, *files])
    assert result.exit_code == 0, result.output
    assert "applied" in result.output
    assert "unknown_entity" in result.output
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 1
        reasons = connection.execute(sa.select(dead_letters.c.topic, dead_letters.c.error_class))
        assert sorted(tuple(row) for row in reasons) == [
            ("file:order.cancelled.json", "unknown_entity"),
            ("file:post.deleted.json", "unknown_entity"),
            ("file:user.deleted.json", "unknown_entity"),
        ]
    engine.dispose()


def test_json_lines_dead_letter_bad_lines_by_line_number(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    stream = tmp_path / "events.jsonl"
    user = sample_bytes("user.created").replace(b"\n", b"")
    stream.write_bytes(b"\n".join([user, b"", b"{not json", b'{"event_type": "user.nope"}', user]))
    result = runner.invoke(app, ["load", "--database-url", url, "--batch-size", "2", str(stream)])
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as connection:
        letters = connection.execute(
            sa.select(dead_letters.c.kafka_offset, dead_letters.c.error_class).order_by(
                dead_letters.c.kafka_offset
            )
        ).all()
    assert [tuple(row) for row in letters] == [(3, "undecodable"), (4, "unknown_event_type")]
    engine.dispose()


def test_load_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(
        app, ["load", "--no-migrate", "--database-url", url, str(SAMPLES / "user.created.json")]
    )
    assert result.exit_code == 1
    assert "analytics migrate upgrade" in result.output


def test_load_into_mysql(mysql_only: sa.Engine, mysql_url: str) -> None:
    result = runner.invoke(
        app, ["load", "--database-url", mysql_url, str(SAMPLES / "user.created.json")]
    )
    assert result.exit_code == 0, result.output
    with mysql_only.connect() as connection:
        assert connection.execute(sa.select(users.c.display_name)).scalar_one() == "Ravi Levi"


def test_load_redacts_the_secret_fields_of_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    stream = tmp_path / "events.jsonl"
    stream.write_bytes(b'{"event_type": "user.nope", "pinCode": "1234", "password": "x"}\n')
    env = {"ANALYTICS_SECRET_FIELDS": "pin_code"}
    result = runner.invoke(app, ["load", "--database-url", url, str(stream)], env=env)
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(dead_letters.c.raw_value)).scalar_one()
    engine.dispose()
    assert json.loads(stored) == {
        "event_type": "user.nope",
        "pinCode": "[redacted]",
        "password": "x",
    }


def test_load_refuses_invalid_secret_fields(tmp_path: Path) -> None:
    env = {"ANALYTICS_SECRET_FIELDS": "user_id"}
    result = runner.invoke(app, ["load", str(SAMPLES / "user.created.json")], env=env)
    assert result.exit_code == 2
    assert "secret_fields" in result.output
