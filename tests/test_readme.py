"""The README documents every setting and every command, and its shell blocks run as
written, in order, in a fresh folder on the embedded defaults, so that they cannot rot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from analytics.cli import app
from analytics.metrics import Metrics
from analytics.settings import ConsumerSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SHARED = ROOT.parent / "shared"

# Blocks that cannot run here, by their first command's start, and why.
NOT_RUN = {
    "python3 -m venv": "installs the package: the test runs in the installed environment",
    "ANALYTICS_TEST_DATABASE_URL=": "runs this test suite",
    "ANALYTICS_CHAOS_SCALE=full": "runs the chaos tests at full scale (an hour)",
    "ANALYTICS_BOOTSTRAP_SERVERS=kafka:9092": "needs a real Kafka and MySQL (hosts kafka, mysql)",
    ".venv/bin/analytics simulate --events 20000": "needs a Kafka at 127.0.0.1:9092",
    "docker compose": "needs Docker",
    ".venv/bin/analytics rebuild --dry-run": "needs the service's Kafka and a running service",
    ".venv/bin/analytics replay --from": "needs the service's Kafka and a stopped service",
}


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


def shell_blocks() -> list[list[str]]:
    """Each ```sh block's commands (continued lines joined), in README order."""
    blocks = re.findall(r"^```sh\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)
    return [block.replace("\\\n", " ").splitlines() for block in blocks]


def skipped(block: list[str]) -> str | None:
    return next((why for start, why in NOT_RUN.items() if block[0].startswith(start)), None)


def test_every_skipped_block_is_still_in_the_readme() -> None:
    firsts = [block[0] for block in shell_blocks()]
    for start in NOT_RUN:
        assert any(first.startswith(start) for first in firsts), start


def test_the_readme_commands_run_in_order(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.fail(f"the shared specification is not next to the repository ({SHARED})")
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "shared").symlink_to(SHARED)
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANALYTICS_")}
    ran = []
    for block in shell_blocks():
        if skipped(block):
            continue
        for command in block:
            completed = subprocess.run(
                ["bash", "-c", command],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            output = completed.stdout + completed.stderr
            assert completed.returncode == 0, f"{command}\n{output}"
            assert "Traceback" not in output, f"{command}\n{output}"
            ran.append((command, completed.stdout))
    commands = [command for command, _ in ran]
    assert ".venv/bin/analytics demo" in commands
    assert any(command.startswith(".venv/bin/analytics load events.jsonl") for command in commands)
    recent = next(stdout for command, stdout in ran if "report --days 7" in command)
    # The simulated world is recent: the last week has orders.
    assert json.loads(recent)["orders_per_day"]
