"""What the service checks before it consumes anything, and what it says when the database
cannot take its work: the problem, the database (password masked), the server's words and
the fix, on one line.

The checks: the database answers, its schema is at the Alembic head revision, and the
service's user may SELECT, INSERT, UPDATE and DELETE on every table. The privilege probes
touch no row (`WHERE` false) and run in a transaction that is rolled back.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL

from analytics import migrate
from analytics.db import (
    DATABASE_URL_ENV,
    Problem,
    is_mysql_family,
    permanent_problem,
    server_message,
)
from analytics.schema import metadata

DML = "SELECT, INSERT, UPDATE, DELETE"


class DatabaseUnusable(Exception):
    """The database cannot take the service's work and retrying stopped: a person must act
    (or, for an unreachable database at start, the server must come up)."""

    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(f"{problem}: {detail}")
        self.problem = problem
        self.detail = detail


def check_database(engine: sa.Engine) -> str | None:
    """Raise DatabaseUnusable, or the driver's own error when it may pass (the server is
    unreachable, say), unless the service can work; return the account the server knows
    the service's user as ('user'@'host'), where the server has accounts."""
    try:
        with engine.connect() as connection:
            account = _account(connection)
        head = migrate.pending_revision(engine)
        if head is not None:
            raise DatabaseUnusable(Problem.SCHEMA_NOT_MIGRATED, f"not migrated to {head}")
        _probe_privileges(engine)
    except sa.exc.DBAPIError as exc:
        problem = permanent_problem(exc)
        if problem is None:
            raise
        raise DatabaseUnusable(problem, server_message(exc)) from exc
    return account


def _account(connection: sa.Connection) -> str | None:
    if not is_mysql_family(connection.dialect):
        return None
    current = str(connection.exec_driver_sql("SELECT CURRENT_USER()").scalar())
    user, _, host = current.rpartition("@")
    return f"'{user}'@'{host}'"


def _probe_privileges(engine: sa.Engine) -> None:
    """Run each kind of statement the service runs on every table, on no row."""
    nothing = sa.false()
    with engine.connect() as connection, connection.begin() as transaction:
        for table in metadata.sorted_tables:
            columns = list(table.columns)
            connection.execute(
                table.insert().from_select(columns, sa.select(*columns).where(nothing))
            )
            connection.execute(table.update().where(nothing).values({columns[0]: columns[0]}))
            connection.execute(table.delete().where(nothing))
        transaction.rollback()


def describe(problem: Problem, detail: str, url: URL, account: str | None) -> str:
    """The one line the service stops with."""
    shown = url.render_as_string(hide_password=True)
    return f"{problem} ({shown}): {detail}; fix: {fix(problem, url, account)}"


def fix(problem: Problem, url: URL, account: str | None) -> str:
    database = url.database or "<database>"
    grantee = account or f"'{url.username}'@'%'"
    return {
        Problem.UNREACHABLE: f"check that the server runs and that {DATABASE_URL_ENV} names "
        "its host and port",
        Problem.ACCESS_DENIED: f"check the user and password in {DATABASE_URL_ENV}",
        Problem.PERMISSION_DENIED: f"GRANT {DML} ON `{database}`.* TO {grantee}",
        Problem.UNKNOWN_DATABASE: "create it and run `analytics migrate upgrade`, or correct "
        f"its name in {DATABASE_URL_ENV}",
        Problem.SCHEMA_NOT_MIGRATED: "run `analytics migrate upgrade`",
        Problem.OUT_OF_RANGE: "a column reached the limit of its type (an AUTO_INCREMENT id?); "
        "widen it with a new migration",
    }[problem]
