"""`analytics rebuild` against MariaDB and SQLite and the embedded broker, with the real
service running next to it: the swapped-in tables equal one clean pass over every message,
readers never see a missing or empty table, a changed mapping is reflected, a SIGKILLed
rebuild resumes without touching the live tables before its swap, and retention that
already deleted events is refused unless allowed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from analytics import migrate, offsets
from analytics.broker import EmbeddedBroker
from analytics.db import create_engine
from analytics.events import TOPICS
from analytics.mapping import map_event
from analytics.mapping.ops import Change, Upsert
from analytics.rebuild import Options, Phase, Rebuild, RebuildRefused, current_phase, places
from analytics.schema import metadata, users
from analytics.settings import ConsumerSettings
from tests.chaos.common import FaultyStream, assert_retained, faulty_stream, final_verdict
from tests.conftest import scratch_database
from tests.consumer.harness import (
    ROOT,
    ConsumerProcess,
    Record,
    committed_offsets,
    end_offsets,
    produce,
    reference_contents,
    table_contents,
    wait_caught_up,
    wait_until,
)
from tests.consumer.test_database_errors import as_user, database_user, table_grants

SEED = 20260301
EVENTS = 3000
TABLES = [table.name for table in metadata.sorted_tables]
# Short sessions: a SIGKILLed rebuild's member leaves its group within seconds.
FAST = {
    "ANALYTICS_BATCH_SIZE": "300",
    "ANALYTICS_BATCH_MAX_SECONDS": "0.2",
    "ANALYTICS_SESSION_TIMEOUT_MS": "6000",
    "ANALYTICS_METRICS_PORT": "0",
    "ANALYTICS_LOG_FORMAT": "json",
    "ANALYTICS_RETRY_INITIAL_SECONDS": "0.1",
    "ANALYTICS_RETRY_MAX_SECONDS": "1",
}


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(partitions=3, rebalance_delay_ms=0) as running:
        yield running


@pytest.fixture
def live_url(mysql_url: str) -> Iterator[str]:
    """A migrated database of its own; its shadow and previous databases dropped after."""
    with scratch_database(mysql_url) as url:
        migrate.upgrade(url)
        try:
            yield url
        finally:
            where = places(url)
            server = create_engine(make_url(url).set(database=""))
            with server.begin() as connection:
                for name in (where.name(where.shadow), where.name(where.previous)):
                    connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            server.dispose()


def settings(bootstrap: str, url: str, **more: object) -> ConsumerSettings:
    values = {k.removeprefix("ANALYTICS_").lower(): v for k, v in FAST.items()}
    return ConsumerSettings(
        **{**values, "bootstrap_servers": bootstrap, "database_url": url, **more}  # type: ignore[arg-type]
    )


@dataclass
class RebuildProcess:
    """`analytics rebuild` as its own process, so that it can be SIGKILLed."""

    bootstrap: str
    url: str
    log_path: Path
    arguments: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        env = {
            **os.environ,
            **FAST,
            "ANALYTICS_BOOTSTRAP_SERVERS": self.bootstrap,
            "ANALYTICS_DATABASE_URL": self.url,
            **self.environment,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "analytics", "rebuild", *self.arguments],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = 240) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"rebuild still running:\n{self.logs()[-3000:]}") from None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_rebuild(bootstrap: str, url: str, log_path: Path, *arguments: str) -> tuple[int, str]:
    process = RebuildProcess(bootstrap, url, log_path, arguments)
    return process.wait(), process.logs()


class Reader(threading.Thread):
    """Counts every table's rows in a loop, as an analyst's dashboard would, and records
    any failure (a missing table) and any empty table."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(url)
        self.running = True
        self.rounds = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while self.running:
            try:
                with self.engine.connect() as connection:
                    for name in TABLES:
                        count = connection.exec_driver_sql(f"SELECT COUNT(*) FROM {name}").scalar()
                        if not count:
                            self.failures.append(f"{name} empty")
            except sa.exc.DBAPIError as exc:
                self.failures.append(str(exc.orig))
            self.rounds += 1

    def stop(self) -> None:
        self.running = False
        self.join(30)
        self.engine.dispose()


def poisonous_first_half(stream: FaultyStream) -> tuple[list[Record], list[Record]]:
    """The stream in two halves, every table (dead letters and tombstones included) having
    rows after the first."""
    half = len(stream.records) // 2
    return stream.records[:half], stream.records[half:]


def test_rebuild_while_the_service_runs_equals_one_clean_pass_and_readers_never_miss_a_table(
    broker: EmbeddedBroker, live_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(EVENTS, SEED, duplicates=0.05, stale=0.05, poison=0.01)
    first, rest = poisonous_first_half(stream)
    produce(bootstrap, first)
    live = ConsumerProcess(bootstrap, live_url, tmp_path / "live.log")
    reader = Reader(live_url)
    try:
        wait_caught_up(bootstrap, [live])
        reader.start()
        rebuild = RebuildProcess(bootstrap, live_url, tmp_path / "rebuild.log")
        # Traffic goes on through the load, the swap and the catch-up after it.
        sent = 0
        while rebuild.process.poll() is None and sent < len(rest):
            produce(bootstrap, rest[sent : sent + 20])
            sent += 20
            time.sleep(0.05)
        assert rebuild.wait() == 0, rebuild.logs()[-3000:]
        produce(bootstrap, rest[sent:])
        wait_caught_up(bootstrap, [live])
    finally:
        reader.stop()
        assert live.stop() == 0
    assert_retained(bootstrap)
    events = [json.loads(line) for line in rebuild.logs().splitlines() if line.startswith("{")]
    swapped = [e for e in events if e["event"] == "rebuild.swapped"]
    assert swapped, rebuild.logs()[-3000:]
    assert sent < len(rest), "the traffic ended before the rebuild: the swap saw none"
    assert reader.rounds > 10
    assert reader.failures == []
    where = places(live_url)
    assert current_phase(where) is Phase.FRESH  # the shadow database is gone
    engine = create_engine(live_url)
    try:
        final_verdict(bootstrap, engine, stream).check()
    finally:
        engine.dispose()


class LateSwap(Rebuild):
    """A rebuild whose swap comes late: before it, new users are produced and the service
    commits them into the tables about to be replaced (offsets included)."""

    def __init__(self, settings: ConsumerSettings, late: list[Record]) -> None:
        super().__init__(settings, Options())
        self.late = late

    def _swap(self) -> None:
        bootstrap = self.settings.bootstrap_servers
        produce(bootstrap, self.late)
        wait_until(lambda: committed_offsets(bootstrap) == end_offsets(bootstrap), 60)
        super()._swap()


def test_what_the_service_commits_between_the_last_check_and_the_swap_is_not_lost(
    broker: EmbeddedBroker, live_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(1500, SEED, poison=0.01)
    produce(bootstrap, stream.records)
    # Users no later event touches: a lost one is a missing row.
    late = [
        r
        for r in faulty_stream(600, SEED + 7, 0, 0, 0).records
        if b'"user.created"' in (r.value or b"")
    ]
    assert len(late) >= 20
    live = ConsumerProcess(bootstrap, live_url, tmp_path / "live.log")
    engine = create_engine(live_url)
    try:
        wait_caught_up(bootstrap, [live])
        LateSwap(settings(bootstrap, live_url), late).run()
        wait_caught_up(bootstrap, [live])
    finally:
        assert live.stop() == 0
    try:
        final_verdict(bootstrap, engine, stream).check()
    finally:
        engine.dispose()


def shouting(change: Change) -> Change:
    """A changed mapping: users' display names in capitals."""
    ops = tuple(
        replace(op, row={**op.row, "display_name": str(op.row["display_name"]).upper()})
        if isinstance(op, Upsert) and op.table is users and op.row.get("display_name")
        else op
        for op in change.ops
    )
    return replace(change, ops=ops)


def test_a_mapping_changed_since_the_first_load_is_reflected_after_the_rebuild(
    broker: EmbeddedBroker, live_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(1500, SEED, poison=0.01)
    produce(bootstrap, stream.records)
    live = ConsumerProcess(bootstrap, live_url, tmp_path / "live.log")
    engine = create_engine(live_url)
    try:
        wait_caught_up(bootstrap, [live])
        before = table_contents(engine)
        # Where a batch's events are mapped (`pipeline.decode_batch`).
        module = sys.modules["analytics.pipeline"]
        monkeypatch.setattr(module, "map_event", lambda event: shouting(map_event(event)))
        outcome = Rebuild(settings(bootstrap, live_url), Options()).run()
        assert outcome.swapped
        after = table_contents(engine)
        expected = reference_contents(bootstrap, engine)
    finally:
        assert live.stop() == 0
        engine.dispose()
    assert after == expected
    assert after["users"] != before["users"]
    names = [row for row in after["users"] if any(isinstance(v, str) and v.isupper() for v in row)]
    assert names


def live_tables_swapped(url: str) -> bool:
    """The previous database holds the replaced tables: a swap happened."""
    where = places(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                sa.text("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db"),
                {"db": where.name(where.previous)},
            ).scalar()
    finally:
        engine.dispose()
    return bool(found)


KILL_MOMENTS = ("batch.committed", "rebuild.started", "batch.committed", "batch.committed", "")


def test_a_killed_rebuild_resumes_and_never_touches_the_live_tables_before_its_swap(
    broker: EmbeddedBroker, live_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(EVENTS, SEED + 1, poison=0.01)
    produce(bootstrap, stream.records)
    live = ConsumerProcess(bootstrap, live_url, tmp_path / "live.log")
    wait_caught_up(bootstrap, [live])
    assert live.stop() == 0
    engine = create_engine(live_url)
    # A damaged table, the reason to rebuild.
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM posts")
        connection.exec_driver_sql("UPDATE users SET display_name = 'damaged'")
    damaged = table_contents(engine)
    rng = random.Random(SEED)
    kills = 0
    swapped = False
    for attempt in range(12):
        # Small batches: the load takes a few seconds, long enough to be killed within.
        rebuild = RebuildProcess(
            bootstrap,
            live_url,
            tmp_path / f"rebuild-{attempt}.log",
            environment={"ANALYTICS_BATCH_SIZE": "50"},
        )
        if attempt >= 5:  # enough kills: let it finish
            assert rebuild.wait() == 0, rebuild.logs()[-3000:]
            break
        # Killed while it prepares, or while it loads (after its first batch).
        marker = KILL_MOMENTS[attempt]
        started = time.monotonic()
        while marker not in rebuild.logs() and time.monotonic() - started < 60:
            if rebuild.process.poll() is not None:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        if rebuild.process.poll() is not None:
            assert rebuild.process.returncode == 0, rebuild.logs()[-3000:]
            break
        rebuild.process.kill()
        rebuild.process.wait(10)
        kills += 1
        swapped = swapped or live_tables_swapped(live_url)
        if not swapped:
            assert table_contents(engine) == damaged, (
                f"live tables changed before the swap ({kills} kills)"
            )
    assert kills >= 3
    try:
        final_verdict(bootstrap, engine, stream).check()
    finally:
        engine.dispose()


def padded(records: list[Record], topic: str, size: int) -> list[Record]:
    """The records, those of `topic` carrying `size` bytes more in a field no model reads."""
    padding = b', "padding": "' + b"x" * size + b'"}'
    return [
        replace(r, value=r.value[:-1] + padding) if r.topic == topic and r.value else r
        for r in records
    ]


def test_partial_retention_is_refused_unless_allowed(live_url: str, tmp_path: Path) -> None:
    with EmbeddedBroker(partitions=1, rebalance_delay_ms=0) as broker:
        bootstrap = broker.bootstrap_servers
        stream = faulty_stream(3000, SEED, duplicates=0, stale=0, poison=0)
        produce(bootstrap, padded(stream.records, "product", 8000))
        low = offsets.watermarks(bootstrap, TOPICS)["product", 0][0]
        assert low > 0, "the broker kept every message: nothing to test"
        live = ConsumerProcess(bootstrap, live_url, tmp_path / "live.log")
        try:
            wait_caught_up(bootstrap, [live])
        finally:
            assert live.stop() == 0
        gone = f"product[0] offsets 0-{low - 1} ({low:,})"

        code, output = run_rebuild(bootstrap, live_url, tmp_path / "dry.log", "--dry-run")
        assert code == 0, output
        assert f"{low:,} (offsets 0-{low - 1})" in output
        assert "needs --allow-partial" in output

        code, output = run_rebuild(bootstrap, live_url, tmp_path / "refused.log")
        assert code == 1, output
        assert "retention already deleted events the rebuild needs" in output
        assert gone in output
        assert not live_tables_swapped(live_url)

        code, output = run_rebuild(bootstrap, live_url, tmp_path / "partial.log", "--allow-partial")
        assert code == 0, output
        assert f"Rebuilt without what retention deleted: {gone}" in output
        assert live_tables_swapped(live_url)


def test_the_dry_run_names_what_it_would_read_and_create_and_changes_nothing(
    broker: EmbeddedBroker, live_url: str, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    stream = faulty_stream(500, SEED)
    produce(bootstrap, stream.records)
    code, output = run_rebuild(bootstrap, live_url, tmp_path / "dry.log", "--dry-run")
    assert code == 0, output
    where = places(live_url)
    for name in TABLES:
        assert f"`{where.name(where.shadow)}`.`{name}`" in output
        assert f"`{where.name(where.previous)}`.`{name}`" in output
    assert "Messages to read: 0" in output  # the live group has committed nothing yet
    assert current_phase(where) is Phase.FRESH
    assert not live_tables_swapped(live_url)


def test_without_ddl_privileges_the_rebuild_stops_with_one_line_naming_the_grant(
    broker: EmbeddedBroker, live_url: str, mysql_url: str
) -> None:
    database = make_url(live_url).database
    assert database
    with database_user(live_url, table_grants(database)) as user:
        url = as_user(live_url, user)
        with pytest.raises(RebuildRefused) as refused:
            Rebuild(settings(broker.bootstrap_servers, url), Options()).run()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("permission denied (")
    assert "fix: the rebuild needs a user allowed DDL: GRANT ALL PRIVILEGES ON" in message
    assert f"`{database}_rebuild`.*" in message


def test_on_sqlite_the_swap_replaces_the_rows_in_one_transaction_and_keeps_the_old_ones(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    migrate.upgrade(url)
    stream = faulty_stream(1500, SEED, poison=0.01)
    produce(bootstrap, stream.records)
    live = ConsumerProcess(bootstrap, url, tmp_path / "live.log")
    engine = create_engine(url)
    try:
        wait_caught_up(bootstrap, [live])
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE users SET display_name = 'damaged'")
        damaged = table_contents(engine)
        Rebuild(settings(bootstrap, url), Options()).run()
    finally:
        assert live.stop() == 0
    where = places(url)
    assert not Path(where.name(where.shadow)).exists()
    previous = create_engine(where.previous)
    try:
        assert table_contents(previous) == damaged
    finally:
        previous.dispose()
    try:
        final_verdict(bootstrap, engine, stream).check()
        Rebuild(settings(bootstrap, url), Options(drop_old=True)).run()
        assert not Path(where.name(where.previous)).exists()
    finally:
        engine.dispose()
