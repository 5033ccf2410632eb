"""Permanent database errors stop the service with one line naming the fix: at start within
seconds, while running after a short bounded retry. Real users, grants and databases."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from analytics import migrate
from analytics.broker import EmbeddedBroker
from analytics.consumer import EXIT_DATABASE_UNREACHABLE, EXIT_DATABASE_UNUSABLE
from analytics.db import create_engine
from analytics.schema import metadata
from tests.conftest import scratch_database
from tests.consumer.harness import (
    ConsumerProcess,
    all_messages,
    committed_offsets,
    effect_is_stored,
    end_offsets,
    produce,
    reference_contents,
    simulated_stream,
    table_contents,
    wait_caught_up,
    wait_until,
)
from tests.consumer.proxy import free_port

PASSWORD = "s3cret-Pa55"
WRONG_PASSWORD = "wr0ng-Pa55"
DML = "SELECT, INSERT, UPDATE, DELETE"
# How long the service retries a permanent error in most of these tests; one test keeps
# the default (10 s) to show the real bound.
RETRY_SECONDS = 1
DEFAULT_RETRY_SECONDS = 10
# What a stop may take beyond the retry window: interpreter start, one attempt, exit.
SLACK_SECONDS = 6


def run_sql(url: str, *statements: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements:
                # The driver formats statements with `%`: the host wildcard is written `%%`.
                connection.exec_driver_sql(statement.replace("%", "%%"))
    finally:
        engine.dispose()


@contextmanager
def database_user(server_url: str, grants: Sequence[str]) -> Iterator[str]:
    """A new user with PASSWORD and the given grants (`<privileges> ON <what>`), dropped on
    exit; yields its name."""
    name = f"svc_{uuid.uuid4().hex[:10]}"
    account = f"'{name}'@'%'"
    run_sql(
        server_url,
        f"CREATE USER {account} IDENTIFIED BY '{PASSWORD}'",
        *(f"GRANT {grant} TO {account}" for grant in grants),
    )
    try:
        yield name
    finally:
        run_sql(server_url, f"DROP USER IF EXISTS {account}")


def as_user(url: str, user: str, password: str = PASSWORD) -> str:
    return make_url(url).set(username=user, password=password).render_as_string(False)


def database_of(url: str) -> str:
    name = make_url(url).database
    assert name
    return name


def table_grants(database: str, denied: dict[str, str] | None = None) -> list[str]:
    """SELECT, INSERT, UPDATE and DELETE on every table, each granted on its own (table
    grants, unlike database grants, apply to open connections at once), but for the
    privileges `denied` names per table; SELECT on alembic_version."""
    denied = denied or {}
    grants = [f"SELECT ON `{database}`.`alembic_version`"]
    for table in metadata.sorted_tables:
        allowed = [p for p in DML.split(", ") if p != denied.get(table.name)]
        grants.append(f"{', '.join(allowed)} ON `{database}`.`{table.name}`")
    return grants


@pytest.fixture
def migrated_url(mysql_url: str) -> Iterator[str]:
    with scratch_database(mysql_url) as url:
        migrate.upgrade(url)
        yield url


def exit_code_within(consumer: ConsumerProcess, started: float, seconds: float) -> int:
    """The consumer's exit code; it fails (and is killed) if it runs longer than `seconds`
    after `started`."""
    try:
        return consumer.wait(max(0.1, started + seconds - time.monotonic()))
    except subprocess.TimeoutExpired:
        consumer.kill()
        raise AssertionError(
            f"still running after {seconds}s:\n{consumer.logs()[-3000:]}"
        ) from None


def last_words(consumer: ConsumerProcess, event: str) -> str:
    """The one error line the service stopped with: its reason, on one line, no traceback."""
    assert "Traceback" not in consumer.logs()
    errors = [e for e in consumer.log_events() if e["level"] == "error"]
    assert [e["event"] for e in errors] == [event], errors
    reason = errors[0]["reason"]
    assert isinstance(reason, str)
    assert "\n" not in reason
    return reason


def start(broker: EmbeddedBroker, url: str, log: Path, **settings: Any) -> ConsumerProcess:
    settings = {"permanent_error_retry_seconds": RETRY_SECONDS, **settings}
    return ConsumerProcess(broker.bootstrap_servers, url, log, **settings)


# --- at start --------------------------------------------------------------------------


def test_a_wrong_password_stops_the_service_at_start_within_the_default_retry(
    broker: EmbeddedBroker, mysql_url: str, migrated_url: str, tmp_path: Path
) -> None:
    database = database_of(migrated_url)
    with database_user(mysql_url, [f"{DML} ON `{database}`.*"]) as user:
        url = as_user(migrated_url, user, WRONG_PASSWORD)
        started = time.monotonic()
        consumer = ConsumerProcess(broker.bootstrap_servers, url, tmp_path / "consumer.log")
        code = exit_code_within(consumer, started, DEFAULT_RETRY_SECONDS + SLACK_SECONDS)
    took = time.monotonic() - started
    assert code == EXIT_DATABASE_UNUSABLE
    reason = last_words(consumer, "consumer.database_unusable")
    assert reason.startswith(f"access denied (mysql+mysqldb://{user}:***@")
    assert f"Access denied for user '{user}'" in reason
    assert reason.endswith("check the user and password in ANALYTICS_DATABASE_URL")
    assert WRONG_PASSWORD not in consumer.logs()
    # Retried for the window (a password change may be rolling out), then stopped.
    assert took >= DEFAULT_RETRY_SECONDS
    assert consumer.count("database.check_failed") >= 2


def test_an_unknown_database_stops_the_service_at_start(
    broker: EmbeddedBroker, mysql_url: str, tmp_path: Path
) -> None:
    missing = f"{database_of(mysql_url)}_missing_{uuid.uuid4().hex[:6]}"
    url = make_url(mysql_url).set(database=missing).render_as_string(False)
    started = time.monotonic()
    consumer = start(broker, url, tmp_path / "consumer.log")
    assert exit_code_within(consumer, started, RETRY_SECONDS + SLACK_SECONDS) == (
        EXIT_DATABASE_UNUSABLE
    )
    reason = last_words(consumer, "consumer.database_unusable")
    assert reason.startswith("unknown database")
    assert f"Unknown database '{missing}'" in reason
    assert "`analytics migrate upgrade`" in reason
    assert "ANALYTICS_DATABASE_URL" in reason


@pytest.mark.parametrize("revision", [None, migrate.revisions()[0]], ids=["empty", "behind"])
def test_a_database_not_at_the_head_revision_stops_the_service_at_start(
    broker: EmbeddedBroker, mysql_url: str, tmp_path: Path, revision: str | None
) -> None:
    with scratch_database(mysql_url) as url:
        if revision is not None:
            migrate.upgrade(url, revision)
        started = time.monotonic()
        consumer = start(broker, url, tmp_path / "consumer.log")
        code = exit_code_within(consumer, started, RETRY_SECONDS + SLACK_SECONDS)
    assert code == EXIT_DATABASE_UNUSABLE
    reason = last_words(consumer, "consumer.database_unusable")
    head = migrate.revisions()[-1]
    assert reason.startswith("schema not migrated")
    assert f"not migrated to {head}" in reason
    assert reason.endswith("run `analytics migrate upgrade`")


@pytest.mark.parametrize(
    ("grants", "table"),
    [
        (lambda db: [f"SELECT ON `{db}`.*"], f"`{metadata.sorted_tables[0].name}`"),
        (lambda db: table_grants(db, {"tombstones": "INSERT"}), "`tombstones`"),
        (lambda db: table_grants(db, {"dead_letters": "DELETE"}), "`dead_letters`"),
    ],
    ids=["select-only", "no-insert-on-tombstones", "no-delete-on-dead-letters"],
)
def test_a_missing_privilege_stops_the_service_at_start(
    broker: EmbeddedBroker,
    mysql_url: str,
    migrated_url: str,
    tmp_path: Path,
    grants: Any,
    table: str,
) -> None:
    database = database_of(migrated_url)
    with database_user(mysql_url, grants(database)) as user:
        started = time.monotonic()
        consumer = start(broker, as_user(migrated_url, user), tmp_path / "consumer.log")
        code = exit_code_within(consumer, started, RETRY_SECONDS + SLACK_SECONDS)
    assert code == EXIT_DATABASE_UNUSABLE
    reason = last_words(consumer, "consumer.database_unusable")
    assert reason.startswith("permission denied")
    assert f"command denied to user '{user}'" in reason
    assert table in reason
    assert reason.endswith(f"GRANT {DML} ON `{database}`.* TO '{user}'@'%'")
    assert PASSWORD not in consumer.logs()


def test_an_unreachable_database_stops_the_service_at_start(
    broker: EmbeddedBroker, mysql_url: str, tmp_path: Path
) -> None:
    url = make_url(mysql_url).set(host="127.0.0.1", port=free_port()).render_as_string(False)
    started = time.monotonic()
    consumer = start(broker, url, tmp_path / "consumer.log")
    code = exit_code_within(consumer, started, RETRY_SECONDS + SLACK_SECONDS)
    assert code == EXIT_DATABASE_UNREACHABLE
    reason = last_words(consumer, "consumer.database_unreachable")
    assert reason.startswith("database unreachable")
    assert "Can't connect" in reason


# --- while running ---------------------------------------------------------------------


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def offsets_match_the_database(bootstrap: str, engine: sa.Engine) -> None:
    """Committed offsets never run ahead of what the database holds."""
    messages = {(m.topic, m.partition, m.offset): m for m in all_messages(bootstrap)}
    with engine.connect() as connection:
        for (topic, partition), offset in committed_offsets(bootstrap).items():
            if offset:
                assert effect_is_stored(connection, messages[topic, partition, offset - 1])


def test_a_privilege_revoked_while_running_stops_the_service_after_a_short_retry(
    broker: EmbeddedBroker, mysql_url: str, migrated_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    records, _ = simulated_stream(1500)
    produce(bootstrap, records)
    database = database_of(migrated_url)
    retry_seconds = 3
    port = free_port()
    with database_user(mysql_url, table_grants(database)) as user:
        url = as_user(migrated_url, user)
        settings = {"batch_size": 50, "metrics_port": port, "metrics_host": "127.0.0.1"}
        consumer = start(
            broker,
            url,
            tmp_path / "consumer.log",
            permanent_error_retry_seconds=retry_seconds,
            **settings,
        )
        try:
            # The user has exactly what the service needs: it passes the checks and works.
            wait_until(lambda: consumer.count("batch.committed") >= 2 or not consumer.alive(), 60)
            run_sql(
                mysql_url,
                *(
                    f"REVOKE INSERT ON `{database}`.`{t.name}` FROM '{user}'@'%'"
                    for t in metadata.sorted_tables
                ),
            )
            revoked = time.monotonic()
            problems: list[str] = []

            def unhealthy() -> bool:
                status, body = health(port)
                problems[:] = body.get("problems", [])
                return status == 503 and bool(problems)

            wait_until(unhealthy, retry_seconds, lambda: consumer.logs()[-2000:])
            code = exit_code_within(consumer, revoked, retry_seconds + SLACK_SECONDS)
        finally:
            if consumer.alive():
                consumer.kill()
        took = time.monotonic() - revoked
        assert code == EXIT_DATABASE_UNUSABLE
        assert problems[0].startswith("permission denied: (1142) INSERT command denied")
        reason = last_words(consumer, "consumer.database_unusable")
        assert reason.startswith("permission denied")
        assert reason.endswith(f"GRANT {DML} ON `{database}`.* TO '{user}'@'%'")
        assert retry_seconds <= took
        assert consumer.count("batch.retry") >= 2
        root = create_engine(migrated_url)
        try:
            offsets_match_the_database(bootstrap, root)
            assert sum(committed_offsets(bootstrap).values()) < sum(end_offsets(bootstrap).values())
            # Once the privilege is back, a restart finishes the job: nothing was lost.
            run_sql(mysql_url, *(f"GRANT {g} TO '{user}'@'%'" for g in table_grants(database)))
            restarted = start(broker, url, tmp_path / "restarted.log", batch_size=50)
            try:
                wait_caught_up(bootstrap, [restarted])
            finally:
                assert restarted.stop() == 0
            assert table_contents(root) == reference_contents(bootstrap, root)
        finally:
            root.dispose()
