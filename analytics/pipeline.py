"""One batch of raw messages → rows and dead letters, in one transaction.

This is the unit of work shared by every way messages arrive (files today, Kafka in the
consumer): decode each message, apply the valid events in order, and record every message
that could not be applied as a dead letter in the same transaction. The caller commits,
and only then acknowledges the messages (commits offsets).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from analytics import deadletters
from analytics.dal import apply_changes
from analytics.deadletters import DeadLetter, Source
from analytics.errors import InvalidEvent, Reason
from analytics.events import TOPICS, Event, decode_event, topic_of
from analytics.mapping import map_event
from analytics.mapping.ops import Change
from analytics.secrets import SecretNames

# How far ahead of this process's clock an event's timestamp may be. An event from the
# future would become its entity's version and make every real event after it stale (a
# delete stamped 9999-12-31 would tombstone its entity for good), so one further ahead is
# dead-lettered instead, to be replayed once its time has come.
DEFAULT_MAX_FUTURE_SKEW = timedelta(hours=1)


@dataclass
class BatchOutcome:
    applied_by_type: Counter[str] = field(default_factory=Counter)
    stale: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # Per topic, the newest event timestamp (naive UTC) among the applied events.
    newest_event_time: dict[str, datetime] = field(default_factory=dict)

    @property
    def applied(self) -> int:
        return self.applied_by_type.total()

    @property
    def reasons(self) -> Counter[str]:
        return Counter(str(letter.error.reason) for letter in self.dead_letters)

    def add(self, other: BatchOutcome) -> None:
        self.applied_by_type += other.applied_by_type
        self.stale += other.stale
        self.dead_letters += other.dead_letters
        for topic, stamp in other.newest_event_time.items():
            self.newest_event_time[topic] = max(stamp, self.newest_event_time.get(topic, stamp))


# The collector's generation thresholds while batches run (Python's defaults: 700, 10, 10).
GC_THRESHOLDS = (100_000, 50, 100)


def tune_garbage_collector() -> None:
    """Call once before a long run of batches.

    Batches allocate many short-lived objects that reference counting frees, yet each
    allocation burst makes the cyclic collector walk everything start-up built too (modules,
    compiled schemas and statements): freezing those leaves only the batch's own objects to
    walk, about a fifth of the in-process batch time on the bench's stream. At the default
    thresholds the collector still runs thousands of times per batch, walking the batch's
    live objects (its events, rows and statements) each time, while batches leave almost no
    cyclic garbage (a few hundred objects over 30,000 events); higher thresholds cut the
    process's CPU per event by about 15 % with the same peak RSS (docs/BENCHMARKS.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class DecodedBatch:
    """A batch's messages decoded and mapped, with no database: the first half of
    `process_batch`, which the consumer runs for the next batch while one is written."""

    messages: Sequence[Source]
    events: list[Event]  # one per decodable message, in order
    changes: list[Change]  # the mapping of each event
    origins: list[Source]  # the message of each event
    invalid: list[DeadLetter]  # the messages that did not decode


def decode_batch(
    messages: Sequence[Source], latest: datetime, secrets: SecretNames
) -> DecodedBatch:
    """Decode and map `messages`; those that do not decode, or are stamped after `latest`
    (naive UTC), become dead letters."""
    events: list[Event] = []
    origins: list[Source] = []
    invalid: list[DeadLetter] = []
    for message in messages:
        try:
            event = decode_message(message, secrets, latest)
        except InvalidEvent as error:
            invalid.append(DeadLetter(message, error))
            continue
        events.append(event)
        origins.append(message)
    return DecodedBatch(messages, events, [map_event(event) for event in events], origins, invalid)


def process_batch(
    connection: sa.Connection,
    messages: Sequence[Source],
    now: datetime,
    secrets: SecretNames,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> BatchOutcome:
    """Apply `messages` in order within the caller's transaction; dead-letter the rest.

    `secrets` names the secret fields: kept out of dead letters and of every reason.
    `now` is the current time as naive UTC: events stamped more than `max_future_skew`
    after it are dead-lettered (`future_timestamp`)."""
    return write_batch(
        connection, decode_batch(messages, now + max_future_skew, secrets), now, secrets
    )


def write_batch(
    connection: sa.Connection, decoded: DecodedBatch, now: datetime, secrets: SecretNames
) -> BatchOutcome:
    """Apply a decoded batch within the caller's transaction and record its dead letters
    (stamped `now`, naive UTC)."""
    outcome = BatchOutcome(dead_letters=list(decoded.invalid))
    result = apply_changes(connection, decoded.changes, secrets)
    events = decoded.events
    outcome.applied_by_type = Counter(events[index].event_type for index in result.applied)
    for index in result.applied:
        event = events[index]
        topic = topic_of(event.event_type)
        newest = outcome.newest_event_time.get(topic, event.timestamp)
        outcome.newest_event_time[topic] = max(newest, event.timestamp)
    outcome.stale = len(result.stale)
    outcome.dead_letters += [DeadLetter(decoded.origins[r.index], r.error) for r in result.rejected]
    outcome.dead_letters.sort(key=lambda letter: (letter.source.partition, letter.source.offset))
    if outcome.dead_letters:
        deadletters.record(connection, outcome.dead_letters, now, secrets)
    return outcome


def decode_message(message: Source, secrets: SecretNames, latest: datetime = datetime.max) -> Event:
    """The message's event, checked against the topic it arrived on and against the
    latest event time accepted now (naive UTC)."""
    event = decode_event(message.value or b"", secrets)
    if event.timestamp > latest:
        raise InvalidEvent(
            Reason.FUTURE_TIMESTAMP,
            f"{event.event_type} is stamped {event.timestamp.isoformat()}Z, after the latest "
            f"time accepted now ({latest.isoformat(timespec='seconds')}Z); replay it once "
            "its time has come",
        )
    # Keys and ordering hold per topic: an event on another topic's stream could overtake
    # or be overtaken by its entity's other events. Files have no topic to check.
    if message.topic in TOPICS and topic_of(event.event_type) != message.topic:
        raise InvalidEvent(
            Reason.WRONG_TOPIC, f"{event.event_type} arrived on topic {message.topic!r}"
        )
    return event
