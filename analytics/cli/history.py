"""`rebuild` and `replay`: applying history again, into shadow tables swapped in at the end
or over the live tables in place."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from analytics.cli.boundary import EXIT_KAFKA_UNREACHABLE, Known, translated
from analytics.cli.database import DatabaseUrl
from analytics.cli.settings import invalid_settings
from analytics.logs import configure as configure_logging
from analytics.settings import ConsumerSettings


def _option(help_text: str) -> Any:
    return typer.Option(help=help_text, show_default=False)


def _kafka_settings(**overrides: Any) -> ConsumerSettings:
    """The service's settings from the environment, with the flags that were given."""
    try:
        return ConsumerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise invalid_settings(exc) from exc


def _kafka_answers(settings: ConsumerSettings) -> None:
    """One line and exit code 8, instead of a wait, when no broker answers."""
    from analytics.brokers import BrokerUnreachable, check_reachable

    with translated(Known(BrokerUnreachable, EXIT_KAFKA_UNREACHABLE)):
        check_reachable(settings.bootstrap_servers)


def rebuild_command(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Report what would be read and created; change nothing."),
    ] = False,
    allow_partial: Annotated[
        bool,
        typer.Option("--allow-partial", help="Rebuild even though retention deleted events."),
    ] = False,
    drop_old: Annotated[
        bool, typer.Option("--drop-old", help="Drop the replaced tables once swapped.")
    ] = False,
    bootstrap_servers: Annotated[str | None, _option("Kafka bootstrap servers.")] = None,
    group_id: Annotated[str | None, _option("The service's consumer group.")] = None,
    topics: Annotated[str | None, _option("Comma-separated topics.")] = None,
    database_url: DatabaseUrl = None,
    batch_size: Annotated[int | None, _option("Most messages per transaction.")] = None,
) -> None:
    """Rebuild the read model from every retained event into shadow tables, then swap them
    in for the live ones while the service keeps running. Needs a user allowed DDL."""
    from analytics import rebuild

    settings = _kafka_settings(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        topics=topics,
        database_url=database_url,
        batch_size=batch_size,
    )
    _kafka_answers(settings)
    # In a terminal the progress bar says what the info lines would.
    level = "WARNING" if sys.stderr.isatty() else settings.log_level
    configure_logging(level, settings.log_format)
    options = rebuild.Options(allow_partial=allow_partial, drop_old=drop_old)
    raise typer.Exit(rebuild.command(settings, options, dry_run))


def replay_command(
    start: Annotated[
        str,
        typer.Option(
            "--from", help="'earliest', or an ISO 8601 time (UTC unless it has an offset)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show where the group would move; move nothing.")
    ] = False,
    bootstrap_servers: Annotated[str | None, _option("Kafka bootstrap servers.")] = None,
    group_id: Annotated[str | None, _option("The service's consumer group.")] = None,
    topics: Annotated[str | None, _option("Comma-separated topics.")] = None,
) -> None:
    """Move the stopped service's group offsets back, so that it re-applies history over
    the live tables when it starts again."""
    from analytics import replay

    settings = _kafka_settings(
        bootstrap_servers=bootstrap_servers, group_id=group_id, topics=topics
    )
    _kafka_answers(settings)
    raise typer.Exit(replay.command(settings, start, dry_run))
