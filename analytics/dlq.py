"""Operating the dead letters: list them, and replay them once the cause is fixed.

A replay sends the stored raw values through the consumer's own path
(`analytics.pipeline.process_batch`), in source order (topic, partition, offset), in
batches of one transaction each. Letters that now apply, or that a newer event has
superseded (stale), are marked `replayed` in that same transaction, so a letter is never
marked unless its batch committed. A letter that fails again stays `pending`:
`process_batch` re-records it for its offset with the new reason and `last_failed_at`.
Only pending letters are replayed, so running the same replay twice changes nothing the
second time.

Stored raw values have their secret fields redacted; the read model never stores those
fields, so replaying the redacted value gives the same rows as the original message. A
letter whose raw value was not kept (it could not be shown free of secrets, or was too
large) cannot be replayed: it is reported as still failing, with its recorded reason, and
left as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from analytics.deadletters import Source, message_hash
from analytics.pipeline import process_batch
from analytics.schema import dead_letters
from analytics.secrets import SecretNames
from analytics.sequences import batched

DEFAULT_LIST_LIMIT = 100
DEFAULT_BATCH_SIZE = 500

SourceKey = tuple[str, int, int, str | None]
# A row of _replay_batch's query.
_LetterRow = sa.Row[*tuple[Any, ...]]


class Status(StrEnum):
    """`dead_letters.status`."""

    PENDING = "pending"
    REPLAYED = "replayed"


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A stored dead letter without its key and raw value."""

    id: int
    topic: str
    partition: int
    offset: int
    event_type: str | None
    event_id: str | None
    entity_id: str | None
    error_class: str
    reason: str
    first_failed_at: datetime
    last_failed_at: datetime
    status: str
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Failure:
    """A replayed letter that failed again, with its new reason."""

    id: int
    topic: str
    partition: int
    offset: int
    error_class: str
    reason: str


@dataclass
class ReplayReport:
    selected: int = 0
    replayed: int = 0  # applied or stale; marked `replayed`
    stale: int = 0  # already superseded by a newer event of the same entity
    skipped: int = 0  # no longer pending when its batch ran (replayed concurrently)
    failures: list[Failure] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return self.replayed - self.stale

    @property
    def still_failing(self) -> int:
        return len(self.failures)

    @property
    def reasons(self) -> Counter[str]:
        return Counter(failure.error_class for failure in self.failures)

    def add(self, other: ReplayReport) -> None:
        self.replayed += other.replayed
        self.stale += other.stale
        self.skipped += other.skipped
        self.failures += other.failures


class ReplayError(Exception):
    """A batch failed (and rolled back); `report` covers the batches committed before it."""

    def __init__(self, report: ReplayReport, cause: BaseException) -> None:
        super().__init__(
            f"replay stopped after {report.replayed + report.still_failing} letters: "
            f"{type(cause).__name__}; the failed batch was rolled back"
        )
        self.report = report


_RECORD_COLUMNS = (
    dead_letters.c.id,
    dead_letters.c.topic,
    dead_letters.c.kafka_partition,
    dead_letters.c.kafka_offset,
    dead_letters.c.event_type,
    dead_letters.c.event_id,
    dead_letters.c.entity_id,
    dead_letters.c.error_class,
    dead_letters.c.reason,
    dead_letters.c.first_failed_at,
    dead_letters.c.last_failed_at,
    dead_letters.c.status,
    dead_letters.c.replayed_at,
)

_SOURCE_ORDER = (
    dead_letters.c.topic,
    dead_letters.c.kafka_partition,
    dead_letters.c.kafka_offset,
)


def list_dead_letters(
    connection: sa.Connection,
    *,
    topic: str | None = None,
    reason: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = DEFAULT_LIST_LIMIT,
) -> list[DeadLetterRecord]:
    """Dead letters matching every given filter, newest first (by `first_failed_at`).

    `reason` is the error class (a `Reason` value); the window is
    `since <= first_failed_at < until`, in UTC (naive datetimes are taken as UTC).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    query = (
        sa.select(*_RECORD_COLUMNS)
        .where(*_filters(topic=topic, reason=reason, status=status, since=since, until=until))
        .order_by(dead_letters.c.first_failed_at.desc(), dead_letters.c.id.desc())
        .limit(limit)
    )
    return [_record(row) for row in connection.execute(query).mappings()]


def select_for_replay(
    connection: sa.Connection,
    *,
    ids: Collection[int] | None = None,
    topic: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[DeadLetterRecord]:
    """The pending letters a replay with these filters would take, in source order."""
    query = (
        sa.select(*_RECORD_COLUMNS)
        .where(
            *_filters(
                ids=ids,
                topic=topic,
                reason=reason,
                status=Status.PENDING.value,
                since=since,
                until=until,
            )
        )
        .order_by(*_SOURCE_ORDER)
    )
    return [_record(row) for row in connection.execute(query).mappings()]


def replay(
    bind: sa.Engine | sa.Connection,
    *,
    ids: Collection[int] | None = None,
    topic: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime,
    secrets: SecretNames,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ReplayReport:
    """Re-apply the selected pending letters; mark those that apply (or are stale) replayed.

    `bind` is an engine or a connection outside any transaction: each batch is committed
    on its own. Filters combine with AND, as in `select_for_replay`. Raises `ReplayError`
    (with the report of the committed batches) when a batch fails with a database error.
    `secrets` names the secret fields, as for the consumer.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if isinstance(bind, sa.Engine):
        with bind.connect() as connection:
            return _replay(connection, ids, topic, reason, since, until, now, secrets, batch_size)
    if bind.in_transaction():
        raise ValueError("replay commits its own transactions; pass a connection outside one")
    return _replay(bind, ids, topic, reason, since, until, now, secrets, batch_size)


def _replay(
    connection: sa.Connection,
    ids: Collection[int] | None,
    topic: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    secrets: SecretNames,
    batch_size: int,
) -> ReplayReport:
    with connection.begin():
        selected = select_for_replay(
            connection, ids=ids, topic=topic, reason=reason, since=since, until=until
        )
    report = ReplayReport(selected=len(selected))
    now = _naive_utc(now)
    for batch in batched([letter.id for letter in selected], batch_size):
        try:
            with connection.begin():
                done = _replay_batch(connection, batch, now, secrets)
        except sa.exc.SQLAlchemyError as exc:
            raise ReplayError(report, exc) from exc
        report.add(done)
    return report


def _replay_batch(
    connection: sa.Connection, ids: Sequence[int], now: datetime, secrets: SecretNames
) -> ReplayReport:
    """Replay the letters `ids` that are still pending, inside the caller's transaction."""
    rows = connection.execute(
        sa.select(
            dead_letters.c.id,
            *_SOURCE_ORDER,
            dead_letters.c.kafka_key,
            dead_letters.c.raw_value,
            dead_letters.c.message_hash,
            dead_letters.c.error_class,
            dead_letters.c.reason,
        )
        .where(dead_letters.c.id.in_(ids), dead_letters.c.status == Status.PENDING.value)
        .order_by(*_SOURCE_ORDER)
        .with_for_update()
    ).all()
    not_kept = [_failure(row, row.error_class, row.reason) for row in rows if row.raw_value is None]
    letters: dict[SourceKey, tuple[_LetterRow, Source]] = {}
    for row in rows:
        if row.raw_value is not None:
            source = _source(connection, row)
            letters[_key(source)] = (row, source)
    outcome = process_batch(connection, [source for _, source in letters.values()], now, secrets)
    failed: dict[SourceKey, Failure] = {}
    for letter in outcome.dead_letters:
        key = _key(letter.source)
        failed[key] = _failure(letters[key][0], str(letter.error.reason), letter.error.detail)
    replayed = [row.id for key, (row, _) in letters.items() if key not in failed]
    _mark_replayed(connection, replayed, now)
    return ReplayReport(
        replayed=len(replayed),
        stale=outcome.stale,
        skipped=len(ids) - len(rows),
        failures=sorted([*failed.values(), *not_kept], key=lambda failure: failure.id),
    )


def _key(source: Source) -> SourceKey:
    return (source.topic, source.partition, source.offset, source.recorded_hash)


def _failure(row: _LetterRow, error_class: str, reason: str) -> Failure:
    return Failure(
        id=row.id,
        topic=row.topic,
        partition=row.kafka_partition,
        offset=row.kafka_offset,
        error_class=error_class,
        reason=reason,
    )


def _source(connection: sa.Connection, row: _LetterRow) -> Source:
    """The letter's message as stored, identified by the hash of the message as it came."""
    source = Source(
        row.topic,
        row.kafka_partition,
        row.kafka_offset,
        row.kafka_key,
        row.raw_value,
        recorded_hash=row.message_hash,
    )
    if row.message_hash is None:
        # Recorded before letters had a hash: one taken now from the stored copy, kept on
        # the row, so that a replay that fails again updates this row (a NULL never matches).
        source = replace(source, recorded_hash=message_hash(source))
        connection.execute(
            dead_letters.update()
            .where(dead_letters.c.id == row.id)
            .values(message_hash=source.recorded_hash)
        )
    return source


def _mark_replayed(connection: sa.Connection, ids: Sequence[int], now: datetime) -> None:
    if not ids:
        return
    connection.execute(
        dead_letters.update()
        .where(dead_letters.c.id.in_(ids), dead_letters.c.status == Status.PENDING.value)
        .values(status=Status.REPLAYED.value, replayed_at=now)
    )


def _filters(
    *,
    ids: Collection[int] | None = None,
    topic: str | None,
    reason: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if ids is not None:
        clauses.append(dead_letters.c.id.in_(sorted(set(ids))))
    if topic is not None:
        clauses.append(dead_letters.c.topic == topic)
    if reason is not None:
        clauses.append(dead_letters.c.error_class == str(reason))
    if status is not None:
        clauses.append(dead_letters.c.status == str(status))
    if since is not None:
        clauses.append(dead_letters.c.first_failed_at >= _naive_utc(since))
    if until is not None:
        clauses.append(dead_letters.c.first_failed_at < _naive_utc(until))
    return clauses


def _naive_utc(moment: datetime) -> datetime:
    """The columns hold naive UTC; an aware datetime is converted to it first."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _record(row: sa.RowMapping) -> DeadLetterRecord:
    values: dict[str, Any] = dict(row)
    values["partition"] = values.pop("kafka_partition")
    values["offset"] = values.pop("kafka_offset")
    return DeadLetterRecord(**values)
