"""How many messages the consumer's next batch may hold.

A batch's write time is the latency of its offsets and the lag a restart re-reads. A
fixed batch size does not bound it: the same 5,000 events that are written in 0.7 s into
young tables take 2.6 s a million events later, when updates land on rows spread over a
large world and fold less within a batch. So the limit follows the measured write time:
a batch that took longer than the target shrinks the next ones to what would have fit,
and a full batch written well within it lets them grow back, never past `batch_size`.

Plain data and arithmetic, no clock and no I/O: the consumer tells it how long each
batch's successful write took.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Below this the per-batch round trips (reads, commit, offsets) cost more than they bound.
FLOOR = 100
# Shrinking aims a little under the target, so that the next batches do not land on it.
AIM = 0.8
# Growing at most doubles per batch: one fast batch is weak evidence.
MOST_GROWTH = 2.0


@dataclass
class BatchLimit:
    """`size` is the next batch's limit: `most` at first, and again whenever the writes
    fit `target_seconds` (0: no target, always `most`)."""

    most: int
    target_seconds: float
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = self.most

    @property
    def floor(self) -> int:
        return min(FLOOR, self.most)

    def observe(self, messages: int, seconds: float) -> None:
        """A batch of `messages` was written, committed and its offsets committed in
        `seconds`, from the start of its successful attempt: the batch latency bounded."""
        if self.target_seconds <= 0 or messages <= 0 or seconds <= 0:
            return
        fitting = messages * self.target_seconds / seconds
        if seconds > self.target_seconds:
            self.size = max(self.floor, min(self.size, round(fitting * AIM)))
        elif messages >= self.size:
            # Only a full batch says how a full batch fares: one cut short by a quiet
            # stream carries the fixed cost of a batch over fewer messages.
            grown = min(fitting * AIM, self.size * MOST_GROWTH)
            self.size = min(self.most, max(self.size, round(grown)))
