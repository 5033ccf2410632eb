"""`analytics load`: files through the batch pipeline into the read model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from analytics.cli import app
from analytics.db import create_engine
from analytics.load import TOPIC_LIMIT, file_topic, load, read_messages
from analytics.schema import dead_letters, users
from analytics.secrets import DEFAULT_SECRETS
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
            (f"file:{SAMPLES / name}", "unknown_entity")
            for name in ("order.cancelled.json", "post.deleted.json", "user.deleted.json")
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
    assert result.exit_code == 6
    assert result.stderr.startswith(f"Error: unknown database ({url}): no such file; fix: ")
    assert not (tmp_path / "empty.db").exists()


def test_load_into_mysql(mysql_only: sa.Engine, mysql_url: str) -> None:
    result = runner.invoke(
        app, ["load", "--database-url", mysql_url, str(SAMPLES / "user.created.json")]
    )
    assert result.exit_code == 0, result.output
    with mysql_only.connect() as connection:
        assert connection.execute(sa.select(users.c.display_name)).scalar_one() == "Ravi Levi"


def two_days(tmp_path: Path) -> list[Path]:
    """Two exports with the same file name, each failing on its second line."""
    user = sample_bytes("user.created").replace(b"\n", b"")
    paths = []
    for day in ("day1", "day2"):
        path = tmp_path / day / "events.jsonl"
        path.parent.mkdir()
        path.write_bytes(user + b"\n" + b'{"event_type": "user.nope"}\n')
        paths.append(path)
    return paths


def test_files_with_the_same_name_keep_a_letter_each(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    paths = two_days(tmp_path)
    result = runner.invoke(app, ["load", "--database-url", url, *map(str, paths)])
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as connection:
        letters = connection.execute(
            sa.select(dead_letters.c.topic, dead_letters.c.kafka_offset).order_by(
                dead_letters.c.topic
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in letters] == [(f"file:{path}", 2) for path in paths]


def test_load_keeps_a_letter_for_each_file_and_line(engine: sa.Engine, tmp_path: Path) -> None:
    paths = two_days(tmp_path)
    messages = [message for path in paths for message in read_messages(path)]
    outcome = load(engine, messages, 1, DEFAULT_SECRETS)
    assert (outcome.applied, len(outcome.dead_letters)) == (2, 2)
    with engine.connect() as connection:
        letters = connection.execute(
            sa.select(dead_letters.c.topic, dead_letters.c.kafka_offset, dead_letters.c.raw_value)
        ).all()
    assert sorted(tuple(row) for row in letters) == [
        (f"file:{path}", 2, b'{"event_type": "user.nope"}') for path in paths
    ]


def test_a_path_too_long_for_the_column_keeps_its_identity(tmp_path: Path) -> None:
    name = "events-" + "x" * 240 + ".jsonl"
    first, second = Path("day1") / name, Path("day2") / name
    topics = [file_topic(path) for path in (first, second)]
    assert topics[0] != topics[1]
    for path, topic in zip((first, second), topics, strict=True):
        digest = hashlib.sha256(str(path).encode()).hexdigest()
        assert len(topic) == TOPIC_LIMIT == 249
        assert topic.startswith(f"file:{digest}…")
        assert topic.endswith(str(path)[-(249 - 5 - 64 - 1) :])
    assert file_topic(Path("a") / "events.jsonl") == "file:a/events.jsonl"


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
    assert "ANALYTICS_SECRET_FIELDS = 'user_id': ['user_id'] would redact" in result.stderr
