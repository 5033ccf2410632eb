"""`analytics replay --from earliest|<time>`: move the service's group back, so that the
service, once restarted, applies history again over the live tables.

Re-applying an event rewrites its rows with the current mapping: the version order applies
an equal version again, and every later event of the entity follows in order. The group's
offsets can only be moved while it has no members (Kafka refuses a commit from outside a
group that has), so the service must be stopped; that refusal is the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from analytics import offsets
from analytics.consumer import Partition
from analytics.settings import ConsumerSettings

EARLIEST = "earliest"
EXIT_OK = 0
EXIT_REFUSED = 1


@dataclass(frozen=True)
class Move:
    partition: Partition
    committed: int
    to: int


def positions(settings: ConsumerSettings, start: str) -> dict[Partition, int]:
    """Where the group would restart: each partition's first retained offset, or its first
    message stamped at or after the time `start` names."""
    if start == EARLIEST:
        marks = offsets.watermarks(settings.bootstrap_servers, settings.topics)
        return {partition: low for partition, (low, _end) in marks.items()}
    return offsets.offsets_at(settings.bootstrap_servers, settings.topics, parse_time(start))


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or time; UTC unless it carries an offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--from takes 'earliest' or an ISO 8601 time, not {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def replay(settings: ConsumerSettings, start: str, dry_run: bool = False) -> list[Move]:
    """Move the service's group to `start` (see `positions`); raise offsets.GroupActive
    while the group has members."""
    wanted = positions(settings, start)
    committed = offsets.committed_offsets(
        settings.bootstrap_servers, settings.group_id, settings.topics
    )
    if not dry_run:
        offsets.move_group(settings.bootstrap_servers, settings.group_id, wanted)
    return [Move(p, committed.get(p, 0), offset) for p, offset in sorted(wanted.items())]


def command(settings: ConsumerSettings, start: str, dry_run: bool) -> int:
    """`analytics replay`: its output and exit code."""
    err = Console(stderr=True)
    try:
        moves = replay(settings, start, dry_run)
    except ValueError as exc:
        err.print(f"Error: {exc}", markup=False)
        return EXIT_REFUSED
    except offsets.GroupActive as exc:
        err.print(
            f"Error: {exc}; stop the service first (a killed consumer leaves the group once "
            "its session times out, ANALYTICS_SESSION_TIMEOUT_MS)",
            markup=False,
            soft_wrap=True,
        )
        return EXIT_REFUSED
    verb = "would move" if dry_run else "moved"
    table = Table(title=f"Consumer group {settings.group_id} {verb} to {start}")
    for column in ("topic", "partition", "committed", "replays from", "messages again"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for move in moves:
        topic, number = move.partition
        again = max(0, move.committed - move.to)
        table.add_row(topic, str(number), f"{move.committed:,}", f"{move.to:,}", f"{again:,}")
    Console().print(table)
    return EXIT_OK
