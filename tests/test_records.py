"""The consumer's progress records read back, typed, from the JSON log it writes."""

from __future__ import annotations

import json

import pytest
import structlog

from analytics.logs import configure
from analytics.records import BatchCommitted, PartitionsAssigned


def test_records_written_as_json_log_lines_read_back_equal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("INFO", "json")
    log = structlog.get_logger()
    committed = BatchCommitted(
        messages=5000, applied=4990, stale=7, dead_lettered=3, seconds=0.5, limit=5000
    )
    assigned = PartitionsAssigned(["user[0]", "order[3]"])
    committed.log(log)
    assigned.log(log)
    structlog.get_logger().info("something.else", messages=1)

    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    assert [BatchCommitted.read(entry) is not None for entry in entries] == [True, False, False]
    assert [PartitionsAssigned.read(entry) is not None for entry in entries] == [False, True, False]
    read_committed = BatchCommitted.read(entries[0])
    read_assigned = PartitionsAssigned.read(entries[1])
    assert read_committed is not None
    assert read_committed[1] == committed
    assert read_assigned is not None
    assert read_assigned[1] == assigned
    assert read_committed[0].tzinfo is not None  # logged in UTC
