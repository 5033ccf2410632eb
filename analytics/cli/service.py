"""`analytics consume`: the service. Its flags are the settings' fields, one each.

This module is what the service loads at start: it imports neither the simulator nor the
tools (tests/cli/test_imports.py keeps it so).
"""

from __future__ import annotations

import errno
import inspect
import socket
from typing import Annotated, Any

import structlog
import typer
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from analytics import consumer
from analytics.cli.boundary import EXIT_USAGE, Failure
from analytics.cli.database import must_exist
from analytics.cli.settings import ENV_PREFIX, flag, invalid_settings
from analytics.db import masked
from analytics.logs import configure as configure_logging
from analytics.settings import ConsumerSettings

log = structlog.get_logger("analytics.cli")

# What a flag parses its value as; everything else (lists, choices) is text that the
# settings validate, with the same messages as for the environment variable.
_FLAG_TYPES: dict[Any, type] = {int: int, float: float}
_UNUSABLE_ADDRESS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL)


def consume_command(**flags: Any) -> None:
    """Consume the topics and keep the read model current (the service).

    Every setting is also read from the environment as ANALYTICS_<SETTING>; flags win.
    """
    overrides = {name: value for name, value in flags.items() if value is not None}
    try:
        settings = ConsumerSettings(**overrides)
    except ValidationError as exc:
        raise invalid_settings(exc) from exc
    must_exist(settings.database_url)  # a SQLite file is never created empty, only migrated
    configure_logging(settings.log_level, settings.log_format)
    log.info("consumer.settings", **effective(settings))
    try:
        code = consumer.run(settings)
    except OSError as exc:
        if not isinstance(exc, socket.gaierror) and exc.errno not in _UNUSABLE_ADDRESS:
            raise
        raise _metrics_address_failure(settings, exc) from exc
    raise typer.Exit(code)


def effective(settings: ConsumerSettings) -> dict[str, Any]:
    """Every setting as the service uses it, the database URL's password masked."""
    values = settings.model_dump()
    values["database_url"] = masked(settings.database_url)
    return {name: ",".join(v) if isinstance(v, tuple) else v for name, v in values.items()}


def _metrics_address_failure(settings: ConsumerSettings, exc: OSError) -> Failure:
    address = f"{settings.metrics_host}:{settings.metrics_port}"
    return Failure(
        f"cannot serve /metrics and /health on {address} ({exc.strerror or exc}): "
        f"choose another {ENV_PREFIX}METRICS_PORT ({flag('metrics_port')}) or "
        f"{ENV_PREFIX}METRICS_HOST ({flag('metrics_host')}), or 0 to turn them off",
        EXIT_USAGE,
    )


def _flag_parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    default = field.default
    shown = ", ".join(default) if isinstance(default, tuple) else default
    description = (field.description or name).rstrip(".")
    help_text = f"{description}. Default: {shown}; env {ENV_PREFIX}{name.upper()}."
    kind = _FLAG_TYPES.get(field.annotation, str)
    option = typer.Option(flag(name), help=help_text, show_default=False)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, option],
    )


# Typer reads a command's options from its signature: one flag per settings field, so a
# new setting is a new flag and nothing else becomes one.
_FLAGS = [_flag_parameter(name, field) for name, field in ConsumerSettings.model_fields.items()]
consume_command.__signature__ = inspect.Signature(_FLAGS)  # type: ignore[attr-defined]
consume_command.__annotations__ = {p.name: p.annotation for p in _FLAGS} | {"return": None}
