"""Restarts: a consumer stopped with SIGTERM leaves its group and the next one gets the
partitions; a wait for them is explained in the log. A static member does not leave: its
partitions wait for it until its session times out.

On the embedded broker (librdkafka's mock cluster) a group whose last member left stays in
a rebalance for session.timeout.ms - 1 s before a new member is assigned anything; a member
that joins a group whose old member is still registered waits as long from its joining.
(A Kafka broker empties a group its last member left at once, and hands a restarted static
member its partitions without a rebalance.) The bounds below are the mock's.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from analytics.consumer import WAITING_LOG_AFTER_SECONDS
from tests.consumer.harness import (
    GROUP,
    ConsumerProcess,
    produce,
    reference_contents,
    simulated_stream,
    table_contents,
    wait_caught_up,
    wait_until,
)

# The restarted consumer starts RESTART_DELAY_SECONDS after the first one exited, and still
# waits WAITING_LOG_AFTER_SECONDS and more for its partitions. From the first one's exit to
# the second one's assignment: session.timeout.ms - 1 s when the first one left the group,
# RESTART_DELAY_SECONDS + start-up + session.timeout.ms - 1 s when it did not; LEFT_WITHIN
# lies between the two.
SESSION_TIMEOUT_MS = 15_000
SESSION_SECONDS = SESSION_TIMEOUT_MS / 1000
RESTART_DELAY_SECONDS = 4
LEFT_WITHIN = SESSION_SECONDS + 1


def restart(
    broker: EmbeddedBroker, database_url: str, logs: Path, **settings: Any
) -> tuple[float, ConsumerProcess]:
    """Run a consumer until it has caught up, stop it with SIGTERM, start another one
    RESTART_DELAY_SECONDS later and let it finish new work. Returns the seconds from the
    first one's exit to the second one's first assignment, and the second one (stopped)."""
    bootstrap = broker.bootstrap_servers
    produce(bootstrap, simulated_stream(500)[0])
    first = ConsumerProcess(bootstrap, database_url, logs / "first.log", **settings)
    try:
        wait_caught_up(bootstrap, [first])
        first.send(signal.SIGTERM)
        assert first.wait() == 0
    finally:
        if first.alive():
            first.kill()
    stopped = time.monotonic()
    time.sleep(RESTART_DELAY_SECONDS)
    second = ConsumerProcess(bootstrap, database_url, logs / "restarted.log", **settings)
    try:
        wait_until(
            lambda: second.count("partitions.assigned") >= 1,
            RESTART_DELAY_SECONDS + 3 * SESSION_SECONDS,
            second.logs,
        )
        waited = time.monotonic() - stopped
        produce(bootstrap, simulated_stream(500, seed=8)[0])
        wait_caught_up(bootstrap, [second])
    finally:
        assert second.stop() == 0
    return waited, second


def test_a_consumer_restarted_after_sigterm_gets_its_partitions_and_explains_the_wait(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    waited, restarted = restart(broker, mysql_url, tmp_path, session_timeout_ms=SESSION_TIMEOUT_MS)
    # The first consumer left the group when it closed, so the mock's rebalance window
    # began then. Had it not left, the window would have begun only when the restarted
    # consumer joined, RESTART_DELAY_SECONDS and its start-up later.
    assert waited < LEFT_WITHIN
    (waiting,) = [e for e in restarted.log_events() if e["event"] == "partitions.waiting"]
    assert waiting["group"] == GROUP
    assert waiting["session_timeout_ms"] == SESSION_TIMEOUT_MS
    assert waiting["waited_seconds"] >= WAITING_LOG_AFTER_SECONDS
    assert "session times out" in waiting["reason"]
    assert table_contents(mysql_only) == reference_contents(broker.bootstrap_servers, mysql_only)


def test_a_static_member_does_not_leave_on_close_and_gets_its_partitions_back(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    # The mock cluster takes group.instance.id only to elect the group's leader: the
    # restarted member is a new one to it, and waits for the old one's session to end.
    # What shows here is that the old member did not leave when it closed (that is what
    # lets a Kafka broker keep its partitions for it without a rebalance), and that the
    # restarted member gets the partitions and finishes the work.
    waited, _ = restart(
        broker,
        mysql_url,
        tmp_path,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        group_instance_id="analytics-0",
    )
    assert waited > LEFT_WITHIN
    assert table_contents(mysql_only) == reference_contents(broker.bootstrap_servers, mysql_only)
