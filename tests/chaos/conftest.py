from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.broker import EmbeddedBroker
from tests.chaos.common import REPORT_ENV, scale

# Six partitions keep the full-scale stream well under the ~5 MB the embedded broker holds
# per partition.
PARTITIONS = 6


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(partitions=PARTITIONS, rebalance_delay_ms=0) as running:
        yield running


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Record each chaos test's outcome next to the scenarios' figures."""
    path = os.environ.get(REPORT_ENV)
    chaos = report.nodeid.startswith("tests/chaos/")
    if not path or not chaos or (report.when != "call" and not report.failed):
        return
    line = {
        "scenario": "outcome",
        "test": report.nodeid,
        "scale": scale(),
        "phase": report.when,
        "outcome": report.outcome,
        "duration_seconds": round(report.duration, 1),
        "failure": failure(report),
    }
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def failure(report: pytest.TestReport) -> str:
    """What failed, in one line: the distinct failure messages (hypothesis may report
    several), else the exception pytest names."""
    if not report.failed:
        return ""
    found = re.findall(r"^[ |E]*((?:Failed|AssertionError): .+)$", report.longreprtext, re.M)
    distinct = list(dict.fromkeys(message.strip() for message in found))
    if not distinct:
        crash = getattr(report.longrepr, "reprcrash", None)
        distinct = [str(getattr(crash, "message", "")).splitlines()[0]]
    return "; ".join(distinct[:3])[:500]
