"""Settings as the commands read them: a wrong value is one line naming the variable, the
flag and the value (a database URL's password masked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from analytics.cli.boundary import EXIT_USAGE, Failure
from analytics.db import masked
from analytics.secrets import SecretNames
from analytics.settings import SecretSettings

ENV_PREFIX = "ANALYTICS_"
_LONGEST_VALUE = 80


def secret_names() -> SecretNames:
    """The secret fields of ANALYTICS_SECRET_FIELDS, for commands that write dead letters."""
    try:
        return SecretSettings().secret_names
    except ValidationError as exc:
        raise invalid_settings(exc, flags=False) from exc


def invalid_settings(exc: ValidationError, flags: bool = True) -> Failure:
    """One line for every wrong setting; `flags`: name the `consume` flag too."""
    problems = "; ".join(_problem(error, flags) for error in exc.errors(include_url=False))
    return Failure(f"invalid settings: {problems}", EXIT_USAGE)


def flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _problem(error: ErrorDetails, flags: bool) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        return message
    name = str(error["loc"][0])
    where = f"{ENV_PREFIX}{name.upper()}" + (f" ({flag(name)})" if flags else "")
    return f"{where} = {_shown(error.get('input'))}: {message}"


def _shown(value: Any) -> str:
    """The bad value, quoted and cut short; a database URL only with its password masked."""
    text = masked(value) if isinstance(value, str) else str(value)
    if len(text) > _LONGEST_VALUE:
        text = text[: _LONGEST_VALUE - 1] + "…"
    return repr(text)


def iso_time(text: str) -> datetime:
    """An ISO 8601 date or time option; one without an offset is taken as UTC."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or time") from None
