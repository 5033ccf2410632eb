"""Dead-letter tooling: listing with filters, replay after a fix, and the `dlq` commands."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from analytics import dlq, migrate
from analytics.cli import app
from analytics.cli import deadletters as dlq_command
from analytics.db import create_engine
from analytics.deadletters import DeadLetter, Source, message_hash, record
from analytics.dlq import (
    ReplayError,
    ReplayReport,
    Status,
    list_dead_letters,
    replay,
    select_for_replay,
)
from analytics.errors import InvalidEvent, Reason
from analytics.pipeline import BatchOutcome, process_batch
from analytics.schema import dead_letters, users
from analytics.secrets import DEFAULT_SECRET_FIELDS, DEFAULT_SECRETS, secret_names
from tests.conftest import empty_tables
from tests.samples import encode, sample_dict

runner = CliRunner()

ALICE = "a11ce0000000000000000001"
BOB = "b0b000000000000000000002"
HASH = "$2b$12$ml64lg2tjf8cz2ka7edcmpb3u2m7os5af3r09fquo6sbegzgsyeba"

CREATED_AT = "2025-01-15T10:30:00+00:00"
DELETED_AT = "2025-01-15T11:00:00+00:00"
LATER = "2025-01-15T12:00:00+00:00"

FIRST_RUN = datetime(2025, 2, 1, 9)
SECOND_RUN = datetime(2025, 2, 1, 10)
FIX = datetime(2025, 2, 2, 8)
REPLAY = datetime(2025, 2, 2, 9)
REPLAY_AGAIN = datetime(2025, 2, 2, 10)

GARBAGE = b"\xff\x00not json at all"


def user_created(user_id: str, timestamp: str, display_name: str | None = None) -> bytes:
    envelope = sample_dict("user.created")
    envelope["entity_id"] = envelope["data"]["id"] = user_id
    envelope["timestamp"] = timestamp
    if display_name is not None:
        envelope["data"]["profile"]["display_name"] = display_name
    assert envelope["data"]["password_hash"] == HASH
    return encode(envelope)


def user_deleted(user_id: str, timestamp: str) -> bytes:
    envelope = sample_dict("user.deleted")
    envelope["entity_id"] = envelope["data"]["user_id"] = user_id
    envelope["timestamp"] = timestamp
    return encode(envelope)


def post_deleted() -> bytes:
    return encode(sample_dict("post.deleted"))


def run(engine: sa.Engine, messages: Sequence[Source], now: datetime) -> BatchOutcome:
    with engine.begin() as connection:
        return process_batch(connection, messages, now, DEFAULT_SECRETS)


def letters(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(dead_letters).order_by(dead_letters.c.id)).mappings()
        return [dict(row) for row in rows]


def letter_at(engine: sa.Engine, topic: str, offset: int) -> dict[str, Any]:
    (found,) = [
        row for row in letters(engine) if (row["topic"], row["kafka_offset"]) == (topic, offset)
    ]
    return found


def user_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(users).order_by(users.c.user_id)).mappings()
        return [dict(row) for row in rows]


def snapshot(engine: sa.Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return letters(engine), user_rows(engine)


def record_failures(engine: sa.Engine) -> None:
    """Alice's delete before her creation, garbage, a too-long name, an unknown post.

    The first two fail at FIRST_RUN, the last two at SECOND_RUN.
    """
    outcome = run(
        engine,
        [
            Source("user", 0, 10, ALICE.encode(), user_deleted(ALICE, DELETED_AT)),
            Source("user", 1, 4, None, GARBAGE),
        ],
        FIRST_RUN,
    )
    assert outcome.reasons == {"unknown_entity": 1, "undecodable": 1}
    outcome = run(
        engine,
        [
            Source("user", 0, 11, BOB.encode(), user_created(BOB, CREATED_AT, "x" * 101)),
            Source("post", 2, 7, None, post_deleted()),
        ],
        SECOND_RUN,
    )
    assert outcome.reasons == {"invalid_payload": 1, "unknown_entity": 1}


def fix(engine: sa.Engine) -> None:
    """The missing user.created arrives (and applies) at a later offset."""
    outcome = run(engine, [Source("user", 0, 12, None, user_created(ALICE, CREATED_AT))], FIX)
    assert outcome.applied == 1


def listed(connection: sa.Connection, **filters: Any) -> list[tuple[str, int, int]]:
    return [
        (letter.topic, letter.partition, letter.offset)
        for letter in list_dead_letters(connection, **filters)
    ]


# --- listing ----------------------------------------------------------------------------------


def test_list_filters_and_orders_newest_first(engine: sa.Engine) -> None:
    record_failures(engine)
    with engine.connect() as connection:
        everything = listed(connection)
        assert everything[:2] == [("post", 2, 7), ("user", 0, 11)]
        assert sorted(everything[2:]) == [("user", 0, 10), ("user", 1, 4)]
        assert listed(connection, topic="post") == [("post", 2, 7)]
        assert listed(connection, topic="pos") == []
        assert listed(connection, reason=Reason.UNKNOWN_ENTITY) == [
            ("post", 2, 7),
            ("user", 0, 10),
        ]
        assert listed(connection, reason="undecodable") == [("user", 1, 4)]
        assert listed(connection, topic="user", reason="unknown_entity") == [("user", 0, 10)]
        assert len(listed(connection, status=Status.PENDING)) == 4
        assert listed(connection, status="replayed") == []
        assert sorted(listed(connection, since=SECOND_RUN)) == [("post", 2, 7), ("user", 0, 11)]
        assert sorted(listed(connection, until=SECOND_RUN)) == [("user", 0, 10), ("user", 1, 4)]
        assert listed(connection, since=FIRST_RUN, until=FIRST_RUN + timedelta(seconds=1)) == (
            listed(connection, until=SECOND_RUN)
        )
        # An aware time is the same instant in UTC.
        plus_two = datetime(2025, 2, 1, 12, tzinfo=timezone(timedelta(hours=2)))
        assert listed(connection, since=plus_two) == listed(connection, since=SECOND_RUN)
        assert listed(connection, limit=1) == everything[:1]
        (letter,) = list_dead_letters(connection, topic="user", reason="unknown_entity")
    assert letter.event_type == "user.deleted"
    assert letter.entity_id == ALICE
    assert letter.status == "pending"
    assert letter.first_failed_at == letter.last_failed_at == FIRST_RUN
    assert letter.replayed_at is None
    assert "does not exist" in letter.reason
    assert not hasattr(letter, "raw_value")


def test_list_refuses_a_limit_below_one(engine: sa.Engine) -> None:
    with engine.connect() as connection, pytest.raises(ValueError, match="limit"):
        list_dead_letters(connection, limit=0)


def test_selection_for_replay_is_pending_letters_in_source_order(engine: sa.Engine) -> None:
    record_failures(engine)
    with engine.connect() as connection:
        selected = select_for_replay(connection)
        assert [(s.topic, s.partition, s.offset) for s in selected] == [
            ("post", 2, 7),
            ("user", 0, 10),
            ("user", 0, 11),
            ("user", 1, 4),
        ]
        by_id = select_for_replay(connection, ids=[selected[3].id, selected[0].id])
        assert [s.id for s in by_id] == [selected[0].id, selected[3].id]
        both = select_for_replay(connection, ids=[selected[3].id], topic="post")
        assert both == []


# --- replay -----------------------------------------------------------------------------------


def test_replay_after_the_fix_applies_the_delete_and_keeps_the_garbage(
    engine: sa.Engine,
) -> None:
    record_failures(engine)
    before_fix = replay(engine, topic="user", now=FIX - timedelta(hours=1), secrets=DEFAULT_SECRETS)
    assert (before_fix.selected, before_fix.replayed, before_fix.still_failing) == (3, 0, 3)
    assert len(letters(engine)) == 4
    fix(engine)

    report = replay(engine, topic="user", now=REPLAY, secrets=DEFAULT_SECRETS)

    assert (report.selected, report.replayed, report.applied, report.stale) == (3, 1, 1, 0)
    assert report.reasons == {"undecodable": 1, "invalid_payload": 1}
    (alice,) = [row for row in user_rows(engine) if row["user_id"] == ALICE]
    assert alice["deleted_at"] == datetime(2025, 1, 15, 11)
    delete = letter_at(engine, "user", 10)
    assert (delete["status"], delete["replayed_at"]) == ("replayed", REPLAY)
    assert delete["first_failed_at"] == FIRST_RUN
    garbage = letter_at(engine, "user", 4)
    assert (garbage["status"], garbage["error_class"]) == ("pending", "undecodable")
    assert garbage["replayed_at"] is None
    assert (garbage["first_failed_at"], garbage["last_failed_at"]) == (FIRST_RUN, REPLAY)
    assert garbage["raw_value"] == GARBAGE
    assert letter_at(engine, "post", 7)["last_failed_at"] == SECOND_RUN
    assert len(letters(engine)) == 4
    failure = next(f for f in report.failures if f.error_class == "undecodable")
    assert (failure.id, failure.topic, failure.partition, failure.offset) == (
        garbage["id"],
        "user",
        1,
        4,
    )


def test_replaying_twice_changes_nothing_the_second_time(engine: sa.Engine) -> None:
    record_failures(engine)
    fix(engine)
    first = replay(
        engine, reason="unknown_entity", topic="user", now=REPLAY, secrets=DEFAULT_SECRETS
    )
    assert (first.selected, first.replayed) == (1, 1)
    before = snapshot(engine)

    again = replay(
        engine, reason="unknown_entity", topic="user", now=REPLAY_AGAIN, secrets=DEFAULT_SECRETS
    )

    assert again == ReplayReport(selected=0)
    assert snapshot(engine) == before


def test_a_superseded_letter_is_marked_replayed_as_stale(engine: sa.Engine) -> None:
    record_failures(engine)
    run(engine, [Source("user", 0, 12, None, user_created(ALICE, LATER))], FIX)

    report = replay(
        engine, topic="user", reason="unknown_entity", now=REPLAY, secrets=DEFAULT_SECRETS
    )

    assert (report.replayed, report.applied, report.stale) == (1, 0, 1)
    (alice,) = [row for row in user_rows(engine) if row["user_id"] == ALICE]
    assert alice["deleted_at"] is None
    assert letter_at(engine, "user", 10)["status"] == "replayed"


def test_ids_select_specific_pending_letters(engine: sa.Engine) -> None:
    record_failures(engine)
    fix(engine)
    delete_id = letter_at(engine, "user", 10)["id"]
    garbage_id = letter_at(engine, "user", 4)["id"]

    report = replay(engine, ids=[delete_id], now=REPLAY, secrets=DEFAULT_SECRETS)

    assert (report.selected, report.replayed) == (1, 1)
    assert letter_at(engine, "user", 4)["last_failed_at"] == FIRST_RUN
    again = replay(engine, ids=[delete_id, garbage_id], now=REPLAY_AGAIN, secrets=DEFAULT_SECRETS)
    assert (again.selected, again.replayed, again.still_failing) == (1, 0, 1)
    assert letter_at(engine, "user", 10)["replayed_at"] == REPLAY
    assert replay(engine, ids=[], now=REPLAY_AGAIN, secrets=DEFAULT_SECRETS) == ReplayReport()


def test_replay_in_small_batches_keeps_source_order(engine: sa.Engine) -> None:
    # Bob's creation (offset 20) must apply before his deletion (offset 21).
    run(
        engine,
        [
            Source("user", 0, 21, None, user_deleted(BOB, DELETED_AT)),
            Source("user", 0, 22, None, user_deleted(ALICE, DELETED_AT)),
        ],
        FIRST_RUN,
    )
    with engine.begin() as connection:
        record(
            connection,
            [
                DeadLetter(
                    Source("user", 0, 20, None, user_created(BOB, CREATED_AT)),
                    InvalidEvent(Reason.DATABASE_REJECTED, "a limit since raised"),
                )
            ],
            SECOND_RUN,
            DEFAULT_SECRETS,
        )

    report = replay(engine, now=REPLAY, secrets=DEFAULT_SECRETS, batch_size=1)

    assert (report.selected, report.replayed, report.still_failing) == (3, 2, 1)
    (bob,) = user_rows(engine)
    assert bob["deleted_at"] == datetime(2025, 1, 15, 11)
    assert [failure.offset for failure in report.failures] == [22]


def test_a_letter_is_never_marked_replayed_when_its_batch_rolls_back(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(
        engine,
        [
            Source("user", 0, 1, None, user_deleted(ALICE, DELETED_AT)),
            Source("user", 0, 2, None, user_deleted(BOB, DELETED_AT)),
        ],
        FIRST_RUN,
    )
    run(
        engine,
        [
            Source("user", 0, 3, None, user_created(ALICE, CREATED_AT)),
            Source("user", 0, 4, None, user_created(BOB, CREATED_AT)),
        ],
        FIX,
    )
    marked = dlq._mark_replayed
    calls: list[Sequence[int]] = []

    def mark_then_lose_the_connection(
        connection: sa.Connection, ids: Sequence[int], now: datetime
    ) -> None:
        marked(connection, ids, now)
        calls.append(ids)
        if len(calls) == 2:
            raise sa.exc.OperationalError("COMMIT", {}, Exception("server has gone away"))

    monkeypatch.setattr(dlq, "_mark_replayed", mark_then_lose_the_connection)

    with pytest.raises(ReplayError) as raised:
        replay(engine, now=REPLAY, secrets=DEFAULT_SECRETS, batch_size=1)

    assert (raised.value.report.selected, raised.value.report.replayed) == (2, 1)
    assert "rolled back" in str(raised.value)
    assert letter_at(engine, "user", 1)["status"] == "replayed"
    bob_letter = letter_at(engine, "user", 2)
    assert (bob_letter["status"], bob_letter["replayed_at"]) == ("pending", None)
    deleted = {row["user_id"]: row["deleted_at"] for row in user_rows(engine)}
    assert deleted == {ALICE: datetime(2025, 1, 15, 11), BOB: None}
    monkeypatch.undo()
    assert replay(engine, now=REPLAY_AGAIN, secrets=DEFAULT_SECRETS).replayed == 1


def test_replay_on_a_connection_commits_each_batch(engine: sa.Engine) -> None:
    record_failures(engine)
    fix(engine)
    with engine.connect() as connection:
        connection.execute(sa.select(1))
        with pytest.raises(ValueError, match="outside"):
            replay(connection, now=REPLAY, secrets=DEFAULT_SECRETS)
        connection.rollback()
        report = replay(
            connection, topic="user", reason="unknown_entity", now=REPLAY, secrets=DEFAULT_SECRETS
        )
        assert not connection.in_transaction()
    assert report.replayed == 1
    assert letter_at(engine, "user", 10)["status"] == "replayed"


def test_secrets_stay_redacted_through_list_and_replay(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        record(
            connection,
            [
                DeadLetter(
                    Source("user", 0, 30, None, user_created(ALICE, CREATED_AT)),
                    InvalidEvent(Reason.DATABASE_REJECTED, "a limit since raised"),
                )
            ],
            FIRST_RUN,
            DEFAULT_SECRETS,
        )
    run(engine, [Source("user", 0, 31, None, user_created(BOB, CREATED_AT, "x" * 101))], FIRST_RUN)
    assert all(HASH.encode() not in row["raw_value"] for row in letters(engine))
    with engine.connect() as connection:
        listing = repr(list_dead_letters(connection))

    report = replay(engine, now=REPLAY, secrets=DEFAULT_SECRETS)

    assert HASH not in listing
    assert HASH not in repr(report)
    assert (report.replayed, report.still_failing) == (1, 1)
    (alice,) = user_rows(engine)
    assert (alice["user_id"], alice["display_name"]) == (ALICE, "Ravi Levi")
    assert HASH not in repr(alice)


def with_secret(raw: bytes, spelling: str) -> bytes:
    """`raw` (an envelope with `data`) with one more secret, spelled as careless producers do."""
    if spelling == "escaped key":
        return raw.replace(b'"password_hash"', b'"\\u0070assword_hash"')
    envelope = json.loads(raw)
    data = envelope["data"]
    secret = {"password": "hunter2"}
    additions: dict[str, dict[str, Any]] = {
        "camelCase": {"passwordHash": "hunter2"},
        "UPPER_CASE": {"API_KEY": "hunter2"},
        "kebab object": {"Banking-Info": {"iban": "hunter2"}},
        "in arrays": {"extra": [[secret], {"more": [secret]}]},
        "JSON in a string": {"extra": json.dumps({"nested": json.dumps(secret)})},
        "configured name": {"pinCode": "hunter2"},
    }
    envelope["data"] = {**data, **additions[spelling]}
    return encode(envelope)


def duplicate_data(raw: bytes) -> bytes:
    """A first `data` with a secret, which parsing drops in favour of the second."""
    return raw.replace(b'"data": ', b'"data": {"password": "hunter2"}, "data": ', 1)


SPELLINGS = [
    "camelCase",
    "UPPER_CASE",
    "kebab object",
    "in arrays",
    "JSON in a string",
    "configured name",
    "escaped key",
]
SECRETS = secret_names([*DEFAULT_SECRET_FIELDS, "pin_code"])


@pytest.mark.parametrize("spelling", [*SPELLINGS, "duplicate key"])
def test_a_redacted_letter_replays_as_its_message_would_have_applied(
    engine: sa.Engine, spelling: str
) -> None:
    original = user_created(ALICE, CREATED_AT)
    raw = (
        duplicate_data(original) if spelling == "duplicate key" else with_secret(original, spelling)
    )
    rejected = InvalidEvent(Reason.DATABASE_REJECTED, "a limit since raised")
    with engine.begin() as connection:
        record(
            connection, [DeadLetter(Source("user", 0, 1, None, raw), rejected)], FIRST_RUN, SECRETS
        )
    (stored,) = letters(engine)
    assert b"hunter2" not in stored["raw_value"]
    assert HASH.encode() not in stored["raw_value"]

    report = replay(engine, now=REPLAY, secrets=SECRETS)

    assert (report.replayed, report.applied, report.still_failing) == (1, 1, 0)
    replayed = user_rows(engine)
    empty_tables(engine)
    with engine.begin() as connection:
        process_batch(connection, [Source("user", 0, 1, None, raw)], FIRST_RUN, SECRETS)
    assert replayed == user_rows(engine)


def test_a_replayed_letter_that_fails_again_updates_its_own_row(engine: sa.Engine) -> None:
    """Its stored copy is redacted, so only the recorded hash finds its row."""
    raw = with_secret(user_deleted(ALICE, DELETED_AT), "camelCase")
    run(engine, [Source("user", 0, 10, ALICE.encode(), raw)], FIRST_RUN)
    (before,) = letters(engine)
    assert before["raw_value"] != raw

    report = replay(engine, now=REPLAY, secrets=DEFAULT_SECRETS)
    again = replay(engine, now=REPLAY_AGAIN, secrets=DEFAULT_SECRETS)

    assert (report.still_failing, again.still_failing) == (1, 1)
    (after,) = letters(engine)
    assert after == {**before, "last_failed_at": REPLAY_AGAIN}


def test_a_letter_recorded_before_letters_had_a_hash_replays_into_its_own_row(
    engine: sa.Engine,
) -> None:
    raw = user_deleted(ALICE, DELETED_AT)
    run(engine, [Source("user", 0, 10, None, raw)], FIRST_RUN)
    with engine.begin() as connection:
        connection.execute(dead_letters.update().values(message_hash=None, message_bytes=None))

    replay(engine, now=REPLAY, secrets=DEFAULT_SECRETS)
    replay(engine, now=REPLAY_AGAIN, secrets=DEFAULT_SECRETS)

    (letter,) = letters(engine)
    assert letter["message_hash"] == message_hash(Source("user", 0, 10, None, raw))
    assert (letter["status"], letter["last_failed_at"]) == ("pending", REPLAY_AGAIN)


def test_a_letter_whose_raw_value_was_not_kept_is_reported_and_left_as_it_is(
    engine: sa.Engine,
) -> None:
    run(engine, [Source("user", 0, 3, None, b"{'password': 'hunter2'}")], FIRST_RUN)
    fix(engine)
    (before,) = letters(engine)
    assert before["raw_value"] is None

    report = replay(engine, now=REPLAY, secrets=DEFAULT_SECRETS)

    assert (report.selected, report.replayed, report.still_failing) == (1, 0, 1)
    (failure,) = report.failures
    assert (failure.id, failure.error_class) == (before["id"], "undecodable")
    assert failure.reason == before["reason"]
    assert failure.reason.endswith(
        "; raw value not kept: it could not be parsed and mentions a secret field"
    )
    assert letters(engine) == [before]


# --- the `dlq` commands -----------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def url_engine(sqlite_url: str) -> Any:
    engine = create_engine(sqlite_url)
    yield engine
    engine.dispose()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def json_lines(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_cli_list_as_json(sqlite_url: str, url_engine: sa.Engine) -> None:
    record_failures(url_engine)
    documents = json_lines(invoke("dlq", "list", "--format", "json", "--database-url", sqlite_url))
    assert [(d["topic"], d["offset"]) for d in documents[:2]] == [("post", 7), ("user", 11)]
    assert set(documents[0]) == {
        "id",
        "topic",
        "partition",
        "offset",
        "event_type",
        "event_id",
        "entity_id",
        "error_class",
        "reason",
        "first_failed_at",
        "last_failed_at",
        "status",
        "replayed_at",
    }
    assert documents[0]["first_failed_at"] == "2025-02-01T10:00:00+00:00"
    filtered = json_lines(
        invoke(
            "dlq",
            "list",
            "--format=json",
            "--topic=user",
            "--reason=unknown_entity",
            "--status=pending",
            "--since=2025-02-01T08:30:00",
            "--until=2025-02-01T11:30:00+02:00",
            "--limit=5",
            f"--database-url={sqlite_url}",
        )
    )
    assert [(d["topic"], d["offset"], d["event_type"]) for d in filtered] == [
        ("user", 10, "user.deleted")
    ]
    limited = json_lines(
        invoke("dlq", "list", "--format=json", "--limit=1", "--database-url", sqlite_url)
    )
    assert len(limited) == 1


def test_cli_list_as_a_table(sqlite_url: str, url_engine: sa.Engine) -> None:
    record_failures(url_engine)
    result = invoke("dlq", "list", "--reason", "undecodable", "--database-url", sqlite_url)
    assert result.exit_code == 0, result.output
    garbage = letter_at(url_engine, "user", 4)
    assert "1 dead letters" in result.stdout
    assert "undecodable" in result.stdout
    assert "not UTF-8 JSON" in result.stdout
    assert "2025-02-01 09:00:00" in result.stdout
    letter = re.search(rf"#{garbage['id']} pending .*\n.*\n +user .*\n +\[1\] @4 ", result.stdout)
    assert letter is not None, result.stdout
    assert "unknown_entity" not in result.stdout


def test_cli_rejects_bad_filters(sqlite_url: str) -> None:
    assert (
        invoke("dlq", "list", "--since", "yesterday", "--database-url", sqlite_url).exit_code == 2
    )
    assert (
        invoke("dlq", "list", "--reason", "gremlins", "--database-url", sqlite_url).exit_code == 2
    )
    assert invoke("dlq", "list", "--status", "lost", "--database-url", sqlite_url).exit_code == 2
    assert invoke("dlq", "list", "--limit", "0", "--database-url", sqlite_url).exit_code == 2
    assert invoke("dlq", "list", "--format", "xml", "--database-url", sqlite_url).exit_code == 2


def test_cli_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    for command in ("list", "replay"):
        result = invoke("dlq", command, "--database-url", f"sqlite:///{empty}")
        assert result.exit_code == 6
        assert result.stderr.startswith(f"Error: schema not migrated (sqlite:///{empty}): ")
        assert result.stderr.endswith("; fix: run `analytics migrate upgrade`\n")


def test_cli_refuses_a_missing_sqlite_file_and_creates_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    for command in ("list", "replay"):
        result = invoke("dlq", command, "--database-url", url)
        assert result.exit_code == 6
        assert result.stderr.startswith(f"Error: unknown database ({url}): no such file; fix: ")
    assert list(tmp_path.iterdir()) == []


def test_cli_dry_run_changes_nothing(sqlite_url: str, url_engine: sa.Engine) -> None:
    record_failures(url_engine)
    fix(url_engine)
    before = snapshot(url_engine)

    result = invoke("dlq", "replay", "--topic", "user", "--dry-run", "--database-url", sqlite_url)

    assert result.exit_code == 0, result.output
    assert "Selected 3 pending dead letters (dry run" in result.stdout
    assert "user.deleted" in result.stdout
    assert snapshot(url_engine) == before


def test_cli_replay_then_replay_again(sqlite_url: str, url_engine: sa.Engine) -> None:
    record_failures(url_engine)
    fix(url_engine)

    result = invoke("dlq", "replay", "--topic", "user", "--database-url", sqlite_url)

    assert result.exit_code == 0, result.output
    assert "Selected: 3 pending dead letters" in result.stdout
    assert "Replayed: 1 (applied 1, already superseded 0)" in result.stdout
    assert "Still failing: 2" in result.stdout
    assert "  undecodable: 1" in result.stdout
    assert "  invalid_payload: 1" in result.stdout
    assert "(user partition 1 offset 4): undecodable: not UTF-8 JSON" in result.stdout
    assert letter_at(url_engine, "user", 10)["status"] == "replayed"
    delete_id = str(letter_at(url_engine, "user", 10)["id"])
    before = snapshot(url_engine)

    again = invoke("dlq", "replay", "--id", delete_id, "--database-url", sqlite_url)

    assert again.exit_code == 0, again.output
    assert "Selected: 0 pending dead letters" in again.stdout
    assert "Replayed: 0" in again.stdout
    assert "Still failing: 0" in again.stdout
    assert snapshot(url_engine) == before
    replayed = json_lines(
        invoke(
            "dlq", "list", "--status", "replayed", "--format", "json", "--database-url", sqlite_url
        )
    )
    assert [d["id"] for d in replayed] == [int(delete_id)]
    assert replayed[0]["replayed_at"] is not None


def test_cli_output_never_shows_secrets(sqlite_url: str, url_engine: sa.Engine) -> None:
    with url_engine.begin() as connection:
        record(
            connection,
            [
                DeadLetter(
                    Source("user", 0, 30, None, user_created(ALICE, CREATED_AT)),
                    InvalidEvent(Reason.DATABASE_REJECTED, "a limit since raised"),
                )
            ],
            FIRST_RUN,
            DEFAULT_SECRETS,
        )
    run(url_engine, [Source("user", 0, 31, None, user_created(BOB, CREATED_AT, "x" * 101))], FIX)
    outputs = [
        invoke("dlq", "list", "--database-url", sqlite_url),
        invoke("dlq", "list", "--format", "json", "--database-url", sqlite_url),
        invoke("dlq", "replay", "--dry-run", "--database-url", sqlite_url),
        invoke("dlq", "replay", "--database-url", sqlite_url),
        invoke("dlq", "list", "--format", "json", "--database-url", sqlite_url),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert HASH not in result.output
        assert "password_hash" not in result.output
    assert "Replayed: 1" in outputs[3].stdout
    assert [row["user_id"] for row in user_rows(url_engine)] == [ALICE]


def test_cli_replay_reports_committed_batches_when_it_stops(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stopped(*_args: Any, **_kwargs: Any) -> ReplayReport:
        lost = sa.exc.OperationalError("COMMIT", {}, Exception("server has gone away"))
        raise ReplayError(ReplayReport(selected=5, replayed=2), lost)

    monkeypatch.setattr(dlq_command, "replay", stopped)
    result = invoke("dlq", "replay", "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert "Selected: 5" in result.stdout
    assert "Replayed: 2" in result.stdout
    assert "Error: replay stopped" in result.stderr


def test_cli_replay_on_mysql(mysql_only: sa.Engine, mysql_url: str) -> None:
    record_failures(mysql_only)
    fix(mysql_only)
    result = invoke("dlq", "replay", "--reason", "unknown_entity", "--database-url", mysql_url)
    assert result.exit_code == 0, result.output
    assert "Replayed: 1" in result.stdout
    assert "Still failing: 1" in result.stdout
    assert letter_at(mysql_only, "user", 10)["status"] == "replayed"
    assert letter_at(mysql_only, "post", 7)["status"] == "pending"


def test_dlq_help() -> None:
    for command in (["dlq"], ["dlq", "list"], ["dlq", "replay"]):
        result = invoke(*command, "--help")
        assert result.exit_code == 0, result.output
    assert "replay" in invoke("dlq").output
