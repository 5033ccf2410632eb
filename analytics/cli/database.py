"""The database the commands work on: which URL, opened how, and its errors in one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlalchemy.engine import make_url

from analytics import migrate
from analytics.cli.boundary import EXIT_DATABASE, EXIT_UNREACHABLE, EXIT_USAGE, Failure
from analytics.db import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    Problem,
    UnsupportedDatabaseUrl,
    create_engine,
    masked,
    mysql_error_code,
    permanent_problem,
    server_message,
    supported_url,
)
from analytics.preflight import describe

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL: mysql+mysqldb://, mariadb+mysqldb:// or sqlite:///."
        f" Default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL}.",
        show_default=False,
    ),
]

# MySQL client errors (CR_*, 2000-2999): the server was not reached or went away.
_CLIENT_ERRORS = range(2000, 3000)


def chosen_url(option: str | None) -> str:
    """--database-url, else ANALYTICS_DATABASE_URL, else the embedded SQLite file; a URL
    that is not a supported database's is refused, naming where it came from."""
    source, text = ("--database-url", option) if option else (DATABASE_URL_ENV, None)
    text = text or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    try:
        supported_url(text)
    except UnsupportedDatabaseUrl as exc:
        raise Failure(f"{source}={masked(text)}: {exc}", EXIT_USAGE) from exc
    return text


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """A database error a person must fix (a password, a grant, a name, a server that does
    not answer) becomes one line naming the database, masked, and the fix."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        problem = permanent_problem(exc)
        if problem is None and (mysql_error_code(exc) or 0) in _CLIENT_ERRORS:
            problem = Problem.UNREACHABLE
        if problem is None:
            raise
        code = EXIT_UNREACHABLE if problem is Problem.UNREACHABLE else EXIT_DATABASE
        raise Failure(describe(problem, server_message(exc), make_url(url), None), code) from exc


def must_exist(url: str) -> None:
    """Commands that only read must not leave an empty database file behind: SQLite
    creates the file it is asked to open, so a missing one is refused first."""
    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:") or path[:5] == "file:":
        return
    if not Path(path).expanduser().is_file():
        detail = "no such file"
        raise Failure(describe(Problem.UNKNOWN_DATABASE, detail, parsed, None), EXIT_DATABASE)


def migrated_engine(url: str) -> sa.Engine:
    """An engine on an existing database at the newest revision, or a Failure saying why not."""
    must_exist(url)
    engine = create_engine(url)
    try:
        with database_errors(url):
            head = migrate.pending_revision(engine)
    except Failure:
        engine.dispose()
        raise
    if head is not None:
        engine.dispose()
        problem = Problem.SCHEMA_NOT_MIGRATED
        raise Failure(
            describe(problem, f"not migrated to {head}", make_url(url), None), EXIT_DATABASE
        )
    return engine
