"""The long run: is the cost per event flat as the tables grow?

One consumer at the main batch size takes a long stream (a million events by default)
through the embedded broker, which keeps only a few MB per partition: the producer
streams while the consumer runs, as in every end-to-end run. The run is cut into segments
of `SEGMENT_EVENTS` committed events; each reports its events/s, its batch latency, the
consumer's largest RSS during it and the rows the tables held when it ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from analytics.bench import e2e
from analytics.bench.database import COMPARED_TABLES

SEGMENT_EVENTS = 100_000


@dataclass(frozen=True)
class Segment:
    first_event: int  # 0-based, of the stream
    events: int
    seconds: float
    batch_seconds_p99: float
    peak_rss_mb: float  # the largest RSS sample taken during the segment
    rows_at_end: int | None  # rows in the tables when the bench saw the segment end

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class RowCounter:
    """Counts the rows of the read model when the committed events cross a segment
    boundary (a few COUNT(*) queries per segment: small next to 100,000 events)."""

    def __init__(self, connection: Any, segment: int = SEGMENT_EVENTS) -> None:
        self.connection = connection
        self.segment = segment
        self.rows_at: dict[int, int] = {}

    def __call__(self, committed: int) -> None:
        boundary = committed // self.segment * self.segment
        if boundary and boundary not in self.rows_at:
            self.rows_at[boundary] = self.count()

    def count(self) -> int:
        cursor = self.connection.cursor()
        total = 0
        for table in COMPARED_TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM `{table.name}`")
            (rows,) = cursor.fetchone()
            total += int(rows)
        self.connection.commit()
        return total


def segments(
    result: e2e.E2EResult,
    rows_at: dict[int, int],
    percentile: Callable[[Sequence[float], float], float],
    size: int = SEGMENT_EVENTS,
) -> list[Segment]:
    """The run's batches cut where their running total of messages reaches a multiple of
    `size`; the first segment starts at the consumer's first poll."""
    found: list[Segment] = []
    start_at, start_events, done = result.first_poll, 0, 0
    in_segment: list[e2e.Batch] = []
    timed = result.timed_batches  # without a final partial batch that only waited
    for position, batch in enumerate(timed):
        done += batch.messages
        in_segment.append(batch)
        if done - start_events < size and position < len(timed) - 1:
            continue
        last = position == len(timed) - 1
        seconds = (batch.at - start_at).total_seconds()
        samples = [s.rss_mb for s in result.rss_samples if start_events <= s.committed <= done]
        found.append(
            Segment(
                first_event=start_events,
                events=done - start_events,
                seconds=seconds,
                batch_seconds_p99=percentile([b.seconds for b in in_segment], 0.99),
                peak_rss_mb=max(samples, default=0.0),
                # The last segment ends with the run, whose rows are counted at its end.
                rows_at_end=rows_at.get(result.events if last else done // size * size),
            )
        )
        start_at, start_events, in_segment = batch.at, done, []
    return found
