from __future__ import annotations

from collections.abc import Iterator

import pytest

from analytics.broker import EmbeddedBroker

PARTITIONS = 4


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(partitions=PARTITIONS, rebalance_delay_ms=0) as running:
        yield running
