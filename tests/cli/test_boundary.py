"""Known mistakes: one line on standard error, a documented exit code, never a traceback
(`--debug` keeps it), never a password."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from analytics.cli import app
from analytics.cli.boundary import Failure

runner = CliRunner()
PASSWORD = "wr0ng-s3cret"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def one_line_error(result: Result, exit_code: int) -> str:
    """The single line a known mistake prints, after checking how it was printed."""
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.removeprefix("Error: ").rstrip("\n")


@pytest.fixture
def wrong_password(mysql_url: str) -> str:
    return make_url(mysql_url).set(password=PASSWORD).render_as_string(hide_password=False)


@pytest.fixture
def unknown_database(mysql_url: str) -> str:
    url = make_url(mysql_url)
    return url.set(database=f"{url.database}_missing").render_as_string(hide_password=False)


def test_migrate_upgrade_on_an_unknown_host() -> None:
    url = "mysql+mysqldb://analytics:secret@no-such-host.invalid:3306/analytics"
    line = one_line_error(invoke("migrate", "upgrade", "--database-url", url), 7)
    assert line.startswith(
        "database unreachable (mysql+mysqldb://analytics:***@no-such-host.invalid:3306/"
        "analytics): (2005) Unknown server host 'no-such-host.invalid'"
    )
    assert line.endswith(
        "; fix: check that the server runs and that ANALYTICS_DATABASE_URL names its host and port"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["report"],
        ["dlq", "list"],
        ["dlq", "replay"],
        ["migrate", "upgrade"],
        ["demo", "--events", "10"],
    ],
    ids=" ".join,
)
def test_a_wrong_password(command: list[str], wrong_password: str) -> None:
    result = invoke(*command, "--database-url", wrong_password)
    line = one_line_error(result, 6)
    assert line.startswith("access denied (mysql+mysqldb://root:***@")
    assert "(1045) Access denied for user 'root'@" in line
    assert line.endswith("; fix: check the user and password in ANALYTICS_DATABASE_URL")
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    "command",
    [["report"], ["dlq", "list"], ["dlq", "replay", "--dry-run"], ["demo", "--events", "10"]],
    ids=" ".join,
)
def test_an_unknown_database(command: list[str], unknown_database: str) -> None:
    line = one_line_error(invoke(*command, "--database-url", unknown_database), 6)
    assert line.startswith("unknown database (mysql+mysqldb://root@")
    assert "(1049) Unknown database '" in line
    assert line.endswith(
        "; fix: create it and run `analytics migrate upgrade`, or correct its name in"
        " ANALYTICS_DATABASE_URL"
    )


@pytest.mark.parametrize("command", [["report"], ["migrate", "upgrade"], ["dlq", "list"]])
def test_a_database_url_that_is_not_one(command: list[str]) -> None:
    result = invoke(*command, env={"ANALYTICS_DATABASE_URL": "garbage"})
    assert one_line_error(result, 2) == (
        "ANALYTICS_DATABASE_URL=garbage: not a database URL; use"
        " mysql+mysqldb://user:password@host:3306/name, mariadb+mysqldb://… or sqlite:///file.db"
    )


def test_an_unsupported_database_is_refused_up_front() -> None:
    url = f"postgresql+psycopg://analytics:{PASSWORD}@db:5432/analytics"
    result = invoke("report", "--database-url", url)
    assert one_line_error(result, 2) == (
        "--database-url=postgresql+psycopg://analytics:***@db:5432/analytics:"
        " postgresql+psycopg is not supported; use mysql+mysqldb://user:password@host:3306/name,"
        " mariadb+mysqldb://… or sqlite:///file.db"
    )
    assert PASSWORD not in result.output


def test_load_of_a_missing_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    result = invoke("load", "--database-url", url, str(tmp_path / "nope.jsonl"))
    assert one_line_error(result, 2) == (
        f"{tmp_path / 'nope.jsonl'}: no such file; give event files (.json, .jsonl) or '-'"
    )
    assert list(tmp_path.iterdir()) == []


def test_load_of_a_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    result = invoke("load", "--database-url", url, str(tmp_path))
    assert one_line_error(result, 2) == (
        f"{tmp_path} is a directory; give the files in it, e.g. {tmp_path}/*.jsonl"
    )


def test_debug_keeps_the_traceback(tmp_path: Path) -> None:
    result = invoke("--debug", "load", str(tmp_path / "nope.jsonl"))
    assert isinstance(result.exception, Failure)
    assert result.exception.exit_code == 2
    assert str(result.exception).startswith(f"{tmp_path / 'nope.jsonl'}: no such file; ")
