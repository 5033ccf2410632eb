"""The `analytics` command as a whole: entry points, help, and what the service loads."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from analytics.cli import app

TOOLS = ("producer_sim", "analytics.bench", "analytics.demo", "analytics.report")


def commands(command: Any, path: str = "analytics") -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_every_command_and_option_has_help() -> None:
    found = dict(commands(typer.main.get_command(app)))
    assert {"analytics migrate upgrade", "analytics migrate check", "analytics consume"} <= set(
        found
    )
    for path, command in found.items():
        assert command.help, path
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{path} {param.opts}"


def test_the_service_starts_without_the_tools() -> None:
    """The command line as `analytics consume` builds it, and the service's own modules,
    load none of the simulator, the bench, the demo or the report."""
    program = (
        "import sys, typer\n"
        "from analytics.cli import app\n"
        "import analytics.consumer\n"
        "typer.main.get_command(app)\n"
        f"print([name for name in {TOOLS!r} if name in sys.modules])\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert completed.stdout == "[]\n"


def test_python_dash_m() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "analytics", "migrate", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "review" in completed.stdout


def test_console_script() -> None:
    script = Path(sys.executable).with_name("analytics")
    if not script.exists():
        pytest.fail(f"the package is not installed with its console script ({script})")
    completed = subprocess.run(
        [str(script), "migrate", "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "upgrade" in completed.stdout
