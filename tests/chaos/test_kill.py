"""SIGKILL the consumer again and again through a long faulty run; nothing is lost,
nothing is applied twice, and the offsets never run ahead of the database."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from analytics.deadletters import Source
from tests.chaos.common import (
    Report,
    assert_retained,
    by_scale,
    faulty_stream,
    final_verdict,
)
from tests.consumer.harness import (
    ConsumerProcess,
    all_messages,
    committed_offsets,
    effect_is_stored,
    produce,
    wait_caught_up,
    wait_until,
)

SEED = 20251201
EVENTS = by_scale(short=6_000, full=20_000)
KILLS = by_scale(short=6, full=12)
BATCH_SIZE = 100
# The kills land within this share of the run, so the last one is still mid-run.
KILL_SPAN = 0.6
SETTINGS: dict[str, str | int | float] = {
    "batch_size": BATCH_SIZE,
    "session_timeout_ms": 2000,
    "max_poll_interval_ms": 2000,
}

Partition = tuple[str, int]


def kill_plan(rng: random.Random, messages: int, kills: int) -> list[int]:
    """How many messages each run commits before its kill: random, at least one batch,
    adding up to about KILL_SPAN of the whole run."""
    weights = [rng.uniform(0.2, 1.8) for _ in range(kills)]
    budget = KILL_SPAN * messages
    return [max(BATCH_SIZE, round(budget * weight / sum(weights))) for weight in weights]


def committed_batches(consumer: ConsumerProcess) -> list[dict[str, Any]]:
    return [line for line in consumer.log_events() if line["event"] == "batch.committed"]


def committed_or_gone(consumer: ConsumerProcess, messages: int) -> Callable[[], bool]:
    def check() -> bool:
        done = sum(batch["messages"] for batch in committed_batches(consumer))
        return done >= messages or not consumer.alive()

    return check


def kill_delay(rng: random.Random, consumer: ConsumerProcess) -> float:
    """A random moment within about two batches from now: sometimes between batches,
    often inside the next transaction (a batch takes about as long as its last one)."""
    last = committed_batches(consumer)[-1]["seconds"]
    return rng.uniform(0, min(1.0, 2 * float(last)))


def assert_offsets_not_ahead(
    engine: sa.Engine,
    messages: dict[Partition, list[Source]],
    before: dict[Partition, int],
    after: dict[Partition, int],
) -> int:
    """Every message the group's offsets newly cover has its effect in the database.

    Returns how many messages were checked."""
    checked = 0
    with engine.connect() as connection:
        for partition, offset in after.items():
            for message in messages[partition][before.get(partition, 0) : offset]:
                assert effect_is_stored(connection, message), (
                    f"offset {offset} committed on {partition}, but the message at "
                    f"{message.offset} has no effect in the database"
                )
                checked += 1
    return checked


def test_repeated_sigkill_loses_nothing_and_applies_nothing_twice(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    report = Report("kill")
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(EVENTS, SEED, duplicates=0.05, stale=0.05, poison=0.01)
    produce(bootstrap, stream.records)
    assert_retained(bootstrap)
    in_broker = all_messages(bootstrap)
    by_partition: dict[Partition, list[Source]] = {}
    for message in in_broker:
        by_partition.setdefault((message.topic, message.partition), []).append(message)
    rng = random.Random(SEED)
    plan = kill_plan(rng, len(in_broker), KILLS)

    committed: dict[Partition, int] = {}
    checked = 0
    progress: list[int] = []
    for run, messages in enumerate(plan):
        consumer = ConsumerProcess(bootstrap, mysql_url, tmp_path / f"run-{run}.log", **SETTINGS)
        try:
            wait_until(committed_or_gone(consumer, messages), 180, consumer.logs)
            assert consumer.alive(), consumer.logs()[-3000:]
            time.sleep(kill_delay(rng, consumer))
        finally:
            consumer.kill()
        now = committed_offsets(bootstrap)
        checked += assert_offsets_not_ahead(mysql_only, by_partition, committed, now)
        committed = now
        progress.append(sum(committed.values()))
    assert progress[-1] < len(in_broker), f"the kills should land mid-run: {progress}"

    last = ConsumerProcess(bootstrap, mysql_url, tmp_path / "last.log", **SETTINGS)
    try:
        wait_caught_up(bootstrap, [last], timeout=600)
    finally:
        assert last.stop() == 0
    checked += assert_offsets_not_ahead(
        mysql_only, by_partition, committed, committed_offsets(bootstrap)
    )

    verdict = final_verdict(bootstrap, mysql_only, stream)
    report.add(
        runs=len(plan) + 1,
        kills=len(plan),
        events=stream.events,
        injected_duplicates=stream.duplicates,
        injected_stale=stream.stale,
        messages_before_each_kill=plan,
        committed_at_each_kill=progress,
        offsets_checked_at_kills=checked,
        seed=SEED,
        **verdict.figures(),
    )
    report.write(mysql_only)
    verdict.check()
