"""The consumer's progress records: what it logs after each batch and each assignment.

Each record is one structured log line, written by the consumer and read back, typed, by
whatever follows its progress from the log (the bench): both sides use these classes, so
an event name or a field cannot change on one side only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar

import structlog


@dataclass(frozen=True)
class BatchCommitted:
    """A batch's transaction and then its offsets were committed."""

    EVENT: ClassVar[str] = "batch.committed"

    messages: int
    applied: int
    stale: int
    dead_lettered: int
    seconds: float  # from the start of its write to its offsets' commit
    limit: int  # the batch limit it was polled under: fewer messages means the poll ended

    def log(self, logger: structlog.typing.FilteringBoundLogger) -> None:
        logger.info(self.EVENT, **asdict(self))

    @classmethod
    def read(cls, entry: dict[str, Any]) -> tuple[datetime, BatchCommitted] | None:
        """When it was logged and the record, if `entry` (a parsed JSON log line) is one."""
        if entry.get("event") != cls.EVENT:
            return None
        record = cls(
            messages=int(entry["messages"]),
            applied=int(entry["applied"]),
            stale=int(entry["stale"]),
            dead_lettered=int(entry["dead_lettered"]),
            seconds=float(entry["seconds"]),
            limit=int(entry["limit"]),
        )
        return datetime.fromisoformat(entry["timestamp"]), record


@dataclass(frozen=True)
class PartitionsAssigned:
    """The group gave the consumer these partitions ("topic[partition]")."""

    EVENT: ClassVar[str] = "partitions.assigned"

    partitions: list[str]

    def log(self, logger: structlog.typing.FilteringBoundLogger) -> None:
        logger.info(self.EVENT, partitions=self.partitions)

    @classmethod
    def read(cls, entry: dict[str, Any]) -> tuple[datetime, PartitionsAssigned] | None:
        if entry.get("event") != cls.EVENT:
            return None
        return datetime.fromisoformat(entry["timestamp"]), cls(list(entry["partitions"]))
