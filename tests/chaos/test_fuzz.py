"""Hostile input: every message is applied or dead-lettered, never an exception, never a
crash or a stall of the service.

(a) In process: hypothesis batches of fuzzed messages through `process_batch`, on
    MariaDB and on SQLite.
(b) End to end: a few hundred fuzzed messages among valid traffic through the embedded
    broker and one `analytics consume` process.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from analytics.broker import EmbeddedBroker
from analytics.deadletters import Source
from analytics.pipeline import process_batch
from analytics.secrets import DEFAULT_SECRETS
from tests.chaos.common import (
    Report,
    assert_retained,
    by_scale,
    faulty_stream,
    messages_without_effect,
)
from tests.chaos.fuzz import Fuzzed, deep_text, messages
from tests.conftest import empty_tables
from tests.consumer.harness import (
    ConsumerProcess,
    Record,
    all_messages,
    committed_offsets,
    dead_letter_coordinates,
    effect_is_stored,
    end_offsets,
    produce,
    wait_until,
)

NOW = datetime(2025, 1, 16, 8, 0)
SEED = 20251204
IN_PROCESS_EXAMPLES = by_scale(short=300, full=2000)
END_TO_END_FUZZED = by_scale(short=300, full=1500)
END_TO_END_EVENTS = by_scale(short=2_000, full=8_000)

HEALTH = [
    HealthCheck.function_scoped_fixture,
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]


def sources_of(batch: list[Fuzzed]) -> list[Source]:
    return [Source(m.topic, 0, offset, m.key, m.value) for offset, m in enumerate(batch)]


def described(batch: list[Fuzzed]) -> str:
    return "\n".join(f"{offset}: {m.describe()}" for offset, m in enumerate(batch))


def check_batch(
    engine: sa.Engine, batch: list[Fuzzed], tally: Counter[str], in_hypothesis: bool = True
) -> None:
    """One batch through `process_batch`: no exception, and every message applied (its
    effect stored) or dead-lettered (a dead letter at its coordinates)."""
    empty_tables(engine)
    sources = sources_of(batch)
    tally["batches"] += 1
    tally["messages"] += len(sources)
    try:
        with engine.begin() as connection:
            outcome = process_batch(connection, sources, NOW, DEFAULT_SECRETS)
    except Exception as exc:
        pytest.fail(f"process_batch raised {exc!r}\n{described(batch)}")
    tally["applied"] += outcome.applied
    tally["stale"] += outcome.stale
    tally["dead_lettered"] += len(outcome.dead_letters)
    if in_hypothesis:
        for reason in outcome.reasons:
            event(f"dead-lettered: {reason}")
        if outcome.applied:
            event("some message applied")
    letters = dead_letter_coordinates(engine)
    assert letters == {
        (d.source.topic, d.source.partition, d.source.offset) for d in outcome.dead_letters
    }, described(batch)
    with engine.connect() as connection:
        unaccounted = [s.offset for s in sources if not effect_is_stored(connection, s)]
    assert unaccounted == [], f"neither applied nor dead-lettered: {unaccounted}\n" + described(
        batch
    )
    assert outcome.applied + outcome.stale + len(outcome.dead_letters) == len(sources)


# Found by the fuzzing below: 2 KB of brackets, and a secret field beside JSON nested 500
# levels deep, once raised RecursionError out of process_batch and stopped the consumer.
@pytest.mark.parametrize(
    "value",
    [deep_text(1_000, False, secret=False), deep_text(500, True, secret=True)],
    ids=["1000-levels", "secret-beside-500-levels"],
)
def test_deeply_nested_json_is_dead_lettered(engine: sa.Engine, value: bytes) -> None:
    check_batch(
        engine, [Fuzzed("user", b"k", value, "deeply_nested")], Counter(), in_hypothesis=False
    )


def test_every_fuzzed_message_is_applied_or_dead_lettered(engine: sa.Engine) -> None:
    report = Report(f"fuzz-in-process-{engine.dialect.name}")
    tally: Counter[str] = Counter()

    # No example database: every run explores afresh (the regression test above pins
    # what was found), and its figures are those of that exploration.
    @settings(
        max_examples=IN_PROCESS_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=HEALTH,
    )
    @given(batch=st.lists(messages(), min_size=1, max_size=8))
    def check(batch: list[Fuzzed]) -> None:
        check_batch(engine, batch, tally)

    failure = ""
    try:
        check()
    except BaseException as exc:
        failure = summary(exc)
        raise
    finally:
        report.add(database=engine.dialect.name, max_examples=IN_PROCESS_EXAMPLES, **tally)
        report.add(failure=failure)
        report.write(engine)


def summary(exc: BaseException) -> str:
    """The distinct first lines of a failure (hypothesis groups several into one)."""
    found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    lines = [str(e).splitlines()[0] if str(e) else type(e).__name__ for e in found]
    return "; ".join(dict.fromkeys(lines))[:500]


def caught_up_or_gone(bootstrap: str, consumer: ConsumerProcess) -> Callable[[], bool]:
    return lambda: not consumer.alive() or committed_offsets(bootstrap) == end_offsets(bootstrap)


def last_error(logs: str) -> str:
    """The exception that ends a crashed process's traceback (its message may wrap)."""
    lines = logs.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^\w+(Error|Exception)\b", line)]
    if not starts:
        return lines[-1][:300] if lines else ""
    message = []
    for line in lines[starts[-1] :]:
        if line.startswith(("{", "%", "╭")):
            break
        message.append(line.strip())
    return " ".join(message)[:300]


def fuzzed_messages(count: int) -> list[Fuzzed]:
    """`count` messages drawn by hypothesis, the same ones every run (generation only:
    nothing to shrink here)."""
    drawn: list[Fuzzed] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=HEALTH,
    )
    @given(message=messages())
    def collect(message: Fuzzed) -> None:
        drawn.append(message)

    collect()
    return drawn


def test_the_service_survives_fuzzed_messages_among_valid_traffic(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    report = Report("fuzz")
    bootstrap = broker.bootstrap_servers
    fuzzed = fuzzed_messages(END_TO_END_FUZZED)
    stream = faulty_stream(END_TO_END_EVENTS, SEED, duplicates=0.05, stale=0.05, poison=0.0)
    records = list(stream.records)
    rng = random.Random(SEED)
    for number, message in enumerate(fuzzed):
        # Keys of their own spread them over the partitions: the sample entities' keys would
        # pile megabytes onto a few partitions, beyond what the broker keeps.
        record = Record(message.topic, f"fuzz-{number}".encode(), message.value)
        records.insert(rng.randrange(len(records) + 1), record)
    # Kafka does not tell an empty value from none at all.
    fuzzed_values = {m.value or b"" for m in fuzzed}
    produce(bootstrap, records)
    assert_retained(bootstrap)

    # The first run must catch up and stop cleanly. Should it exit instead, one more run
    # shows whether the service can get past the message that stopped it.
    exits: list[int] = []
    crash = ""
    runs = 0
    while runs < 2 and len(exits) == runs:
        consumer = ConsumerProcess(bootstrap, mysql_url, tmp_path / f"consumer-{runs}.log")
        runs += 1
        try:
            wait_until(caught_up_or_gone(bootstrap, consumer), 300, consumer.logs)
        finally:
            code = consumer.stop()
        if code != 0:
            exits.append(code)
            crash = crash or last_error(consumer.logs())
    in_broker = all_messages(bootstrap)
    unaccounted = messages_without_effect(mysql_only, in_broker)
    letters = dead_letter_coordinates(mysql_only)
    from_fuzz = {
        (m.topic, m.partition, m.offset) for m in in_broker if (m.value or b"") in fuzzed_values
    }
    report.add(
        runs=runs,
        consumer_exits=exits,
        crash=crash,
        events=stream.events,
        fuzzed=len(fuzzed),
        fuzzed_shapes=dict(sorted(Counter(m.shape for m in fuzzed).items())),
        messages=len(in_broker),
        dead_lettered=len(letters),
        dead_lettered_fuzzed=len(letters & from_fuzz),
        applied_fuzzed=len(from_fuzz - letters - set(unaccounted)),
        lost=len(unaccounted),
        dead_letters_outside_fuzz=len(letters - from_fuzz),
    )
    report.write(mysql_only)
    assert exits == [], f"the consumer exited with {exits}: {crash}"
    assert unaccounted == [], f"neither applied nor dead-lettered: {unaccounted[:20]}"
    # Valid traffic never pays for its hostile neighbours.
    assert letters <= from_fuzz, sorted(letters - from_fuzz)[:20]
