"""The README documents every setting and every command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from analytics.cli import app
from analytics.metrics import Metrics
from analytics.settings import ConsumerSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(ConsumerSettings.model_fields))
def test_every_setting_is_documented_with_its_variable_and_flag(name: str) -> None:
    assert f"`ANALYTICS_{name.upper()}`" in README
    assert f"`--{name.replace('_', '-')}`" in README


def commands(group: TyperGroup, prefix: str = "analytics") -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, TyperGroup):
            found += commands(command, path)
        else:
            found.append(path)
    return found


def test_every_command_is_in_the_readme() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    missing = [command for command in commands(root) if command not in README]
    assert missing == []


def test_every_setting_is_a_consume_flag() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    consume = root.commands["consume"]
    flags = {option for parameter in consume.params for option in parameter.opts}
    missing = [f"--{name.replace('_', '-')}" for name in ConsumerSettings.model_fields]
    assert [flag for flag in missing if flag not in flags] == []


def test_every_metric_is_in_the_metrics_table() -> None:
    exposed = {
        family.name + "_total" if family.type == "counter" else family.name
        for family in Metrics().registry.collect()
    }
    assert [name for name in sorted(exposed) if f"| `{name}` |" not in README] == []
