"""`analytics dlq`: list dead letters, and replay them once their cause is fixed."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from analytics.cli.boundary import EXIT_FAILED, Failure
from analytics.cli.database import DatabaseUrl, chosen_url, database_errors, migrated_engine
from analytics.cli.settings import iso_time, secret_names
from analytics.dlq import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LIST_LIMIT,
    DeadLetterRecord,
    ReplayError,
    ReplayReport,
    Status,
    list_dead_letters,
    replay,
    select_for_replay,
)
from analytics.errors import Reason

app = typer.Typer(
    help="Dead letters: list them, and replay them once their cause is fixed.",
    no_args_is_help=True,
)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


TopicFilter = Annotated[
    str | None, typer.Option(help="Only letters from this topic (exact).", show_default=False)
]
ReasonFilter = Annotated[
    Reason | None, typer.Option(help="Only letters with this error class.", show_default=False)
]
SinceFilter = Annotated[
    datetime | None,
    typer.Option(
        parser=iso_time,
        metavar="ISO",
        help="Only letters that first failed at or after this time (UTC unless it has an offset).",
        show_default=False,
    ),
]
UntilFilter = Annotated[
    datetime | None,
    typer.Option(
        parser=iso_time,
        metavar="ISO",
        help="Only letters that first failed before this time (UTC unless it has an offset).",
        show_default=False,
    ),
]


def letters_table(title: str, letters: list[DeadLetterRecord]) -> Table:
    """One row per letter that an 80-column terminal shows whole: the fixed-width facts
    stacked in two narrow columns, the reason wrapped on words in the rest."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_lines=True,
        expand=True,
        pad_edge=False,
    )
    table.add_column("letter, first failed", overflow="fold", max_width=19)
    table.add_column("event, error", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for letter in letters:
        table.add_row(
            f"#{letter.id} {letter.status}\n{letter.first_failed_at:%Y-%m-%d %H:%M:%S}\n"
            f"{letter.topic}\n[{letter.partition}] @{letter.offset}",
            f"{letter.event_type or '—'}\n{letter.error_class}",
            _shortened(letter.reason, REASON_LIMIT),
        )
    return table


# Longer reasons are cut (`--format json` has them whole): a few lines at 80 columns.
REASON_LIMIT = 160


def _shortened(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _letter_json(letter: DeadLetterRecord) -> str:
    document = {
        name: value.replace(tzinfo=UTC).isoformat() if isinstance(value, datetime) else value
        for name, value in asdict(letter).items()
    }
    return json.dumps(document, ensure_ascii=False)


@app.command("list")
def dlq_list_command(
    topic: TopicFilter = None,
    reason: ReasonFilter = None,
    status: Annotated[
        Status | None, typer.Option(help="Only letters in this status.", show_default=False)
    ] = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most letters to show.")] = (
        DEFAULT_LIST_LIMIT
    ),
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="table, or json: one JSON object per line per letter."),
    ] = OutputFormat.TABLE,
    database_url: DatabaseUrl = None,
) -> None:
    """List dead letters, newest first (never their raw values)."""
    url = chosen_url(database_url)
    engine = migrated_engine(url)
    with database_errors(url), engine.connect() as connection:
        letters = list_dead_letters(
            connection,
            topic=topic,
            reason=reason,
            status=status,
            since=since,
            until=until,
            limit=limit,
        )
    engine.dispose()
    if output is OutputFormat.JSON:
        for letter in letters:
            typer.echo(_letter_json(letter))
        return
    Console().print(letters_table(f"{len(letters)} dead letters, newest first", letters))


@app.command("replay")
def dlq_replay_command(
    ids: Annotated[
        list[int] | None,
        typer.Option(
            "--id", metavar="N", help="Only this letter; repeat for several.", show_default=False
        ),
    ] = None,
    topic: TopicFilter = None,
    reason: ReasonFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the selected letters; change nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Letters per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    database_url: DatabaseUrl = None,
) -> None:
    """Re-apply pending dead letters (all filters must match) after their cause is fixed.

    Letters that now apply (or are superseded) become replayed; the rest stay pending.
    """
    url = chosen_url(database_url)
    engine = migrated_engine(url)
    filters: dict[str, Any] = {
        "ids": ids or None,
        "topic": topic,
        "reason": reason,
        "since": since,
        "until": until,
    }
    if dry_run:
        with database_errors(url), engine.connect() as connection:
            selected = select_for_replay(connection, **filters)
        engine.dispose()
        title = f"Selected {len(selected)} pending dead letters (dry run: nothing replayed)"
        Console().print(letters_table(title, selected))
        return
    secrets = secret_names()
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        with database_errors(url):
            report = replay(engine, now=now, secrets=secrets, batch_size=batch_size, **filters)
    except ReplayError as exc:
        _print_replay_report(exc.report)
        raise Failure(str(exc), EXIT_FAILED) from exc
    finally:
        engine.dispose()
    _print_replay_report(report)


def _print_replay_report(report: ReplayReport) -> None:
    typer.echo(f"Selected: {report.selected} pending dead letters")
    typer.echo(
        f"Replayed: {report.replayed} (applied {report.applied}, already superseded {report.stale})"
    )
    if report.skipped:
        typer.echo(f"Skipped: {report.skipped} (no longer pending)")
    typer.echo(f"Still failing: {report.still_failing}")
    for error_class, count in sorted(report.reasons.items()):
        typer.echo(f"  {error_class}: {count}")
    for failure in report.failures:
        typer.echo(
            f"  id {failure.id} ({failure.topic} partition {failure.partition}"
            f" offset {failure.offset}): {failure.error_class}: {_shortened(failure.reason, 200)}"
        )
