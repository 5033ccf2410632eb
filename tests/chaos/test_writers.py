"""Concurrent writers and tied timestamps: two consumer groups apply the same stream to the
same tables at once (as a second deployment, or a rebuild, would), one of them SIGKILLed
at random moments, on a stream whose timestamps are cut to the second so that most of an
entity's events tie. The tables must still equal one clean pass; and, because duplicates
and stale re-sends must change nothing even when they tie with the newest version, they
must equal a pass over the clean events alone.

Both groups find the same new entities absent and write them concurrently; only the
version guard in the write statements keeps the older writer from overwriting the newer.
Ties are decided by the version order (deletes last, then event id), never by which batch
or which writer an event happened to arrive in.
"""

from __future__ import annotations

import dataclasses
import random
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from analytics.deadletters import Source
from analytics.pipeline import process_batch
from analytics.secrets import DEFAULT_SECRETS
from producer_sim import generate
from tests.chaos.common import (
    FaultyStream,
    Report,
    assert_retained,
    by_scale,
    faulty_stream,
    final_verdict,
)
from tests.conftest import empty_tables
from tests.consumer.harness import (
    GROUP,
    ConsumerProcess,
    Record,
    committed_offsets,
    end_offsets,
    produce,
    table_contents,
    wait_until,
)

SEED = 20261201
EVENTS = by_scale(short=4_000, full=20_000)
KILLS = by_scale(short=3, full=8)
OTHER_GROUP = "second-writer"
# Different batch sizes, so that the two groups' batches never line up.
FIRST: dict[str, str | int | float] = {
    "batch_size": 200,
    "session_timeout_ms": 2000,
    "max_poll_interval_ms": 2000,
}
SECOND: dict[str, str | int | float] = {**FIRST, "batch_size": 37, "group_id": OTHER_GROUP}

_FRACTION = re.compile(rb'("timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+')


def retime(value: bytes) -> bytes:
    return _FRACTION.sub(rb"\1", value, count=1)


def tied(stream: FaultyStream) -> tuple[FaultyStream, int]:
    """The stream with every clean envelope's timestamp cut to the second (poison keeps
    its bytes, so that it is still recognised); and how many values changed."""
    records: list[Record] = []
    changed = 0
    for record in stream.records:
        value = record.value
        if value is not None and value not in stream.poison_values:
            changed += value != retime(value)
            value = retime(value)
        records.append(dataclasses.replace(record, value=value))
    return dataclasses.replace(stream, records=records), changed


def clean_events_only(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    """The tables the clean events alone give (no duplicates, re-sends or poison), applied
    in the order they were generated; the tables are left empty."""
    empty_tables(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    sources = [
        Source(message.topic, 0, offset, message.key, retime(message.value))
        for offset, message in enumerate(generate(SEED, EVENTS))
    ]
    for start in range(0, len(sources), 500):
        with engine.begin() as connection:
            outcome = process_batch(connection, sources[start : start + 500], now, DEFAULT_SECRETS)
        assert not outcome.dead_letters, outcome.reasons
    contents = table_contents(engine)
    empty_tables(engine)
    return contents


def caught_up(bootstrap: str, group: str) -> bool:
    return committed_offsets(bootstrap, group) == end_offsets(bootstrap)


def test_two_groups_writing_a_tied_stream_at_once_converge_to_one_clean_pass(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    report = Report("writers")
    bootstrap = broker.bootstrap_servers
    stream, retimed = tied(faulty_stream(EVENTS, SEED, duplicates=0.05, stale=0.05, poison=0.01))
    produce(bootstrap, stream.records)
    assert_retained(bootstrap)
    rng = random.Random(SEED)

    first = ConsumerProcess(bootstrap, mysql_url, tmp_path / "first.log", **FIRST)
    runs, kills = 1, 0
    try:
        for kill in range(KILLS + 1):
            second = ConsumerProcess(
                bootstrap, mysql_url, tmp_path / f"second-{kill}.log", **SECOND
            )
            runs += 1
            if kill == KILLS:
                break
            time.sleep(rng.uniform(0.5, 2.5))
            second.kill()
            kills += 1
        # Stopped below with SIGTERM, which it only handles once it runs.
        wait_until(lambda: second.count("consumer.started") > 0, 60, second.logs)
        deadline = time.monotonic() + 600
        while not (caught_up(bootstrap, GROUP) and caught_up(bootstrap, OTHER_GROUP)):
            assert first.alive(), first.logs()[-3000:]
            assert second.alive(), second.logs()[-3000:]
            assert time.monotonic() < deadline, "the two groups did not catch up"
            time.sleep(0.3)
    finally:
        codes = [first.stop(), second.stop()]
    assert codes == [0, 0]

    run = table_contents(mysql_only)
    verdict = final_verdict(bootstrap, mysql_only, stream)
    clean = clean_events_only(mysql_only)
    differing = sorted(
        name for name in clean if name != "dead_letters" and clean[name] != run[name]
    )
    report.add(
        tables_differing_from_the_clean_events=differing,
        runs=runs,
        kills=kills,
        groups=2,
        batch_sizes=[FIRST["batch_size"], SECOND["batch_size"]],
        retimed_events=retimed,
        events=stream.events,
        injected_duplicates=stream.duplicates,
        injected_stale=stream.stale,
        seed=SEED,
        **verdict.figures(),
    )
    report.write(mysql_only)
    verdict.check()
    assert not differing, f"re-sends changed {differing}: they must be absorbed, ties included"
