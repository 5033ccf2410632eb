"""`analytics consume`: its flags are the settings, and a wrong value is one line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from analytics.cli import app
from analytics.settings import ConsumerSettings

runner = CliRunner()


def consume_options() -> list[str]:
    root = typer.main.get_command(app)
    consume = root.commands["consume"]  # type: ignore[attr-defined]
    return [option for parameter in consume.params for option in parameter.opts]


def test_every_setting_has_exactly_one_flag_and_nothing_else_is_one() -> None:
    options = consume_options()
    flags = [f"--{name.replace('_', '-')}" for name in ConsumerSettings.model_fields]
    assert sorted(options) == sorted(flags)


def test_help_shows_each_default_and_variable() -> None:
    result = runner.invoke(app, ["consume", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Default: 5000; env ANALYTICS_BATCH_SIZE." in text
    assert "Default: user, supplier, product, post, order; env ANALYTICS_TOPICS." in text


def test_invalid_settings_name_the_variable_flag_and_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANALYTICS_BATCH_SIZE", "0")
    result = runner.invoke(app, ["consume", "--topics", "user,users"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "ANALYTICS_BATCH_SIZE (--batch-size) = '0': Input should be greater than or equal" in (
        result.stderr
    )
    assert "ANALYTICS_TOPICS (--topics) = 'user,users': unknown topics ['users']" in result.stderr


@pytest.mark.parametrize(
    ("url", "shown", "problem"),
    [
        ("garbage", "garbage", "not a database URL"),
        (
            "postgresql://analytics:s3cret@db/analytics",
            "postgresql://analytics:***@db/analytics",
            "postgresql is not supported",
        ),
        (
            "mysql+mysqldb://analytics:s3cret@db:port/analytics",
            "mysql+mysqldb://analytics:***@db:port/analytics",
            "not a database URL",
        ),
    ],
)
def test_an_unsupported_database_url_is_refused_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch, url: str, shown: str, problem: str
) -> None:
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", url)
    result = runner.invoke(app, ["consume"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: invalid settings: ANALYTICS_DATABASE_URL (--database-url) = '{shown}': "
        f"{problem}; use mysql+mysqldb://user:password@host:3306/name, mariadb+mysqldb://…"
        " or sqlite:///file.db\n"
    )
    assert "s3cret" not in result.output


def test_a_busy_metrics_port_is_one_line_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANALYTICS_DATABASE_URL", raising=False)
    (tmp_path / "analytics.db").touch()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app,
            [
                "consume",
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(port),
                "--database-url",
                f"sqlite:///{tmp_path}/analytics.db",
                "--bootstrap-servers",
                "127.0.0.1:1",
            ],
        )
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Error: cannot serve /metrics and /health on 127.0.0.1:{port} (Address already in use):"
        " choose another ANALYTICS_METRICS_PORT (--metrics-port) or ANALYTICS_METRICS_HOST"
        " (--metrics-host), or 0 to turn them off"
    )
    assert "Traceback" not in result.output


def test_a_missing_sqlite_file_is_one_line_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "analytics.db"
    result = runner.invoke(app, ["consume", "--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 6, result.output
    assert result.stderr.splitlines() == [
        f"Error: unknown database (sqlite:///{missing}): no such file; fix: create it and run "
        "`analytics migrate upgrade`, or correct its name in ANALYTICS_DATABASE_URL"
    ]
    assert not missing.exists()


def test_consume_logs_its_effective_settings_with_the_password_masked() -> None:
    url = "mysql+mysqldb://analytics:s3cret@127.0.0.1:1/analytics"
    result = runner.invoke(
        app,
        [
            "consume",
            "--database-url",
            url,
            "--permanent-error-retry-seconds",
            "0",
            "--metrics-port",
            "0",
            "--log-format",
            "json",
        ],
    )
    assert result.exit_code == 7, result.output
    first = json.loads(result.stderr.splitlines()[0])
    assert first["event"] == "consumer.settings"
    assert first["database_url"] == "mysql+mysqldb://analytics:***@127.0.0.1:1/analytics"
    assert first["batch_size"] == 5000
    assert first["topics"] == "user,supplier,product,post,order"
    assert "s3cret" not in result.output
