"""`analytics migrate`, invoked in-process."""

from __future__ import annotations

import functools
import sqlite3
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from analytics import migrate
from analytics.cli import app
from analytics.db import DATABASE_URL_ENV
from tests.cli.test_app import commands
from tests.conftest import scratch_database
from tests.test_migrate import (
    INITIAL_REVISION,
    NEW_REVISION_PATH,
    add_revision,
    edit,
    empty_tree,
    make_repo,
    run_sql,
)

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'analytics.db'}"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary git checkout that `migrate review` reads instead of this one."""
    root = make_repo(tmp_path / "repo")
    monkeypatch.setattr(migrate, "review", functools.partial(migrate.review, root=root))
    return root


# --- help -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["migrate"], ["migrate", "upgrade"], ["migrate", "check"], ["migrate", "review"]],
    ids=lambda command: " ".join(command) or "analytics",
)
def test_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if command:
        assert command[-1] in result.output


def test_options() -> None:
    options = {
        path.removeprefix("analytics migrate "): {o for p in c.params for o in p.opts}
        for path, c in commands(typer.main.get_command(app))
    }
    assert {"--database-url", "--revision"} <= options["upgrade"]
    assert "--database-url" in options["check"]
    assert {"--base", "--dialect"} <= options["review"]
    assert "mysql|mariadb" in invoke("migrate", "review", "--help").output


def test_no_arguments_shows_the_commands() -> None:
    result = invoke("migrate")
    assert "upgrade" in result.output
    assert "check" in result.output
    assert "review" in result.output


# --- upgrade and check ------------------------------------------------------------------------


def test_upgrade_then_check_on_sqlite(sqlite_url: str) -> None:
    upgraded = invoke("migrate", "upgrade", "--database-url", sqlite_url)
    assert upgraded.exit_code == 0, upgraded.output
    assert "upgraded to head" in upgraded.output
    checked = invoke("migrate", "check", "--database-url", sqlite_url)
    assert checked.exit_code == 0, checked.output
    assert "matches the schema models" in checked.stdout


def test_the_database_url_defaults_to_the_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, sqlite_url)
    assert invoke("migrate", "upgrade").exit_code == 0
    assert Path(sqlite_url.removeprefix("sqlite:///")).exists()
    assert invoke("migrate", "check").exit_code == 0


def test_upgrade_to_a_revision(sqlite_url: str) -> None:
    result = invoke("migrate", "upgrade", "--revision", "0001", "--database-url", sqlite_url)
    assert result.exit_code == 0, result.output
    # Behind head, the models (the newest schema) differ from the database.
    assert invoke("migrate", "check", "--database-url", sqlite_url).exit_code == 1
    assert invoke("migrate", "upgrade", "--database-url", sqlite_url).exit_code == 0
    assert invoke("migrate", "check", "--database-url", sqlite_url).exit_code == 0


def test_check_of_an_unmigrated_database_fails(sqlite_url: str) -> None:
    sqlite3.connect(sqlite_url.removeprefix("sqlite:///")).close()
    result = invoke("migrate", "check", "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert result.stderr == "Error: Target database is not up to date.\n"


def test_check_of_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'analytics.db'}"
    result = invoke("migrate", "check", "--database-url", url)
    assert result.exit_code == 6
    assert result.stderr == (
        f"Error: unknown database ({url}): no such file; fix: create it and run"
        " `analytics migrate upgrade`, or correct its name in ANALYTICS_DATABASE_URL\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_upgrade_to_an_unknown_revision_fails(sqlite_url: str) -> None:
    result = invoke("migrate", "upgrade", "--revision", "9999", "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "9999" in result.stderr


def test_check_reports_a_dropped_column_on_sqlite(sqlite_url: str) -> None:
    assert invoke("migrate", "upgrade", "--database-url", sqlite_url).exit_code == 0
    run_sql(sqlite_url, "ALTER TABLE users DROP COLUMN bio")
    result = invoke("migrate", "check", "--database-url", sqlite_url)
    assert result.exit_code == 1
    assert "Schema drift" in result.stderr
    assert "add_column: users.bio" in result.stderr


def test_check_reports_datetime_precision_drift(mysql_url: str) -> None:
    with scratch_database(mysql_url) as url:
        assert invoke("migrate", "upgrade", "--database-url", url).exit_code == 0
        assert invoke("migrate", "check", "--database-url", url).exit_code == 0
        run_sql(
            url,
            "ALTER TABLE users MODIFY created_at DATETIME NOT NULL",
            "DROP INDEX idx_users_email ON users",
        )
        result = invoke("migrate", "check", "--database-url", url)
    assert result.exit_code == 1
    assert "modify_type: users.created_at" in result.stderr
    assert "add_index: idx_users_email on users" in result.stderr


# --- review -----------------------------------------------------------------------------------


def test_review_prints_each_added_revision(repo: Path) -> None:
    add_revision(repo)
    result = invoke("migrate", "review", "--base", "HEAD")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"-- Revision 9001: Index users by display name. ({NEW_REVISION_PATH})\n"
    )
    assert "CREATE INDEX idx_users_display_name ON users (display_name);" in result.stdout


def test_review_for_mariadb(repo: Path) -> None:
    result = invoke("migrate", "review", "--base", empty_tree(repo), "--dialect", "mariadb")
    assert result.exit_code == 0, result.output
    assert "-- Revision 0001: " in result.stdout
    assert "COLLATE utf8mb4_nopad_bin" in result.stdout


def test_review_without_new_revisions(repo: Path) -> None:
    result = invoke("migrate", "review", "--base", "HEAD")
    assert result.exit_code == 0, result.output
    assert result.stdout == "No revisions added since HEAD.\n"


def test_review_of_an_edited_released_revision_fails(repo: Path) -> None:
    edit(repo)
    result = invoke("migrate", "review", "--base", "HEAD")
    assert result.exit_code == 1
    assert "were edited" in result.stderr
    assert INITIAL_REVISION in result.stderr
    assert result.stdout == ""


def test_review_rejects_an_unknown_dialect(repo: Path) -> None:
    result = invoke("migrate", "review", "--base", "HEAD", "--dialect", "oracle")
    assert result.exit_code == 2


def test_review_of_this_checkout() -> None:
    inside = subprocess.run(
        ["git", "-C", str(migrate.PROJECT_ROOT), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode != 0:
        pytest.skip("the project is not a git checkout")
    base = subprocess.run(
        ["git", "hash-object", "-t", "tree", "/dev/null"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result = invoke("migrate", "review", "--base", base)
    assert result.exit_code == 0, result.output
    assert "-- Revision 0001: " in result.stdout
    assert f"(migrations/versions/{INITIAL_REVISION})" in result.stdout
    assert "COLLATE utf8mb4_0900_bin" in result.stdout
