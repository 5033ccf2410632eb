"""Where the command line meets its user: a known mistake is one line and an exit code.

Every command runs inside `Boundary.invoke`. A `Failure` — raised by a command, or made from
a known exception type by `translated` — is printed as one `Error: …` line on standard error
(what failed, which setting or argument, what to do) and the process exits with its code.
Any other exception is a bug and keeps its traceback; `analytics --debug …` shows the
traceback of known mistakes too, for bug reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

# The exit codes of every command; `consume` has more (3 and 4, see analytics.consumer), and
# uses 5, 6 and 7 in the same sense.
EXIT_FAILED = 1  # the command ran and found a problem: schema drift, a refused review, ...
EXIT_USAGE = 2  # invalid settings, arguments or files (Click's usage errors too)
EXIT_KAFKA = 5  # Kafka refused or could not take the messages
EXIT_DATABASE = 6  # the database refuses: access denied, unknown database, not migrated, ...
EXIT_UNREACHABLE = 7  # the database does not answer
EXIT_KAFKA_UNREACHABLE = 8  # no Kafka broker answers (simulate, demo)

DEBUG = "analytics.debug"  # key in the Click context's meta, shared by every command


class Failure(Exception):
    """A known mistake: one line that says what failed and what to do, and an exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Known:
    """How a known exception type reads to the user: its exit code and its one line."""

    kind: type[BaseException]
    exit_code: int
    describe: Callable[[Any], str] = str


@contextmanager
def translated(*known: Known) -> Iterator[None]:
    """Turn an exception of a `known` type into its Failure; let every other through."""
    try:
        yield
    except Exception as exc:
        for entry in known:
            if isinstance(exc, entry.kind):
                raise Failure(entry.describe(exc), entry.exit_code) from exc
        raise


class Boundary(TyperGroup):
    """The root command group: prints a Failure as one line and exits with its code."""

    def invoke(self, ctx: Any) -> Any:  # a Click context
        try:
            return super().invoke(ctx)
        except Failure as failure:
            if ctx.meta.get(DEBUG):
                raise
            typer.echo(f"Error: {failure}", err=True)
            raise typer.Exit(failure.exit_code) from None


def debug_option(
    ctx: typer.Context,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show the traceback of a known mistake too (for bug reports)."
        ),
    ] = False,
) -> None:
    """Options of every command."""
    ctx.meta[DEBUG] = debug
