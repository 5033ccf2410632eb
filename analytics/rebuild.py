"""`analytics rebuild`: a new read model from every retained event, swapped in for the live one.

Where things are (`Places`): on MySQL/MariaDB the shadow tables live in a database of their
own next to the live one (`<db>_rebuild`) and the replaced tables are kept in another
(`<db>_previous`); on SQLite these are files next to the live one (`<name>.rebuild.db`,
`<name>.previous.db`). The shadow tables keep the live tables' names, so the service's own
code writes them unchanged through an engine whose default database is the shadow one: no
statement names a database, and no statement cache can send a write to the wrong tables.

The phases, each safe to interrupt (SIGKILL included) and resumed by running again:

1. **prepare**: check the DDL privileges, create the shadow database at the Alembic head
   (by running the migrations into it), point the rebuild's consumer group at the earliest
   retained offsets, then write the `rebuild_state` marker. Without the marker a shadow
   database is a leftover of an interrupted preparation and is made anew.
2. **load**: the service's own loop (`analytics.consumer.Service`: batches, dead letters,
   retries, offsets committed after the database) with the rebuild's group, writing the
   shadow tables, until every partition reaches the live group's committed offset.
3. **swap**: one `RENAME TABLE` moves the live tables to `<db>_previous` and the shadow
   tables in their place (SQLite: the rows, in one transaction). Readers wait for it; they
   never see a missing or empty table.
4. **catch up**: the live service may have committed batches into the replaced tables after
   the load's last check, their offsets possibly still uncommitted. Every such message was
   produced before the swap, so the rebuild goes on into the new live tables up to the end
   offsets read after the swap; the version guard absorbs what the service applies too.
5. **finish**: drop the shadow database (and, with `--drop-old`, the replaced tables).

The phase is read from the database: the marker with the shadow tables is the load, the
marker without them is the catch-up.
"""

from __future__ import annotations

import fcntl
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
import structlog
from confluent_kafka import TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from analytics import migrate, offsets
from analytics.consumer import EXIT_OK, Partition, Service, is_transient
from analytics.db import Problem, create_engine, is_mysql_family, permanent_problem, server_message
from analytics.deadletters import Source
from analytics.pipeline import BatchOutcome, tune_garbage_collector
from analytics.schema import metadata
from analytics.settings import ConsumerSettings

log = structlog.get_logger("analytics.rebuild")

SHADOW = "rebuild"
PREVIOUS = "previous"
STATE_TABLE = "rebuild_state"
PROBE_TABLE = "rebuild_probe"
# Parents before children: the order rows are copied in; deletes go the other way.
TABLES = tuple(table.name for table in metadata.sorted_tables)
MYSQL_NAME_LIMIT = 64
# How often the load asks Kafka for the live group's committed offsets.
TARGET_REFRESH_SECONDS = 1.0
SWAP_LOCK_WAIT_SECONDS = 60
SWAP_ATTEMPTS = 10

EXIT_REFUSED = 1
EXIT_INTERRUPTED = 9  # 8 is Kafka unreachable


class RebuildRefused(Exception):
    """A known reason not to start or go on; the message is the one line to show."""


class Interrupted(Exception):
    """Asked to stop; running the command again resumes."""


def rebuild_group(live_group: str, started: datetime) -> str:
    """A group of its own for each rebuild: it starts at the earliest retained offsets with
    nothing to reset, and an interrupted rebuild resumes from its committed offsets."""
    return f"{live_group}.rebuild.{started:%Y%m%dT%H%M%S}"


@dataclass(frozen=True)
class Places:
    """The live database and, next to it, the shadow and previous ones."""

    live: URL
    shadow: URL
    previous: URL

    @property
    def mysql(self) -> bool:
        return is_mysql_family(self.live)

    def name(self, url: URL) -> str:
        """A database's name (MySQL) or file path (SQLite)."""
        assert url.database is not None
        return url.database

    def table(self, url: URL, table: str) -> str:
        if self.mysql:
            return f"`{self.name(url)}`.`{table}`"
        return f"{self.name(url)}: {table}"


def places(url: str | URL) -> Places:
    live = make_url(url)
    database = live.database
    if not database or database == ":memory:":
        raise RebuildRefused("the database URL must name a database (or a SQLite file)")
    if is_mysql_family(live):
        names = [f"{database}_{SHADOW}", f"{database}_{PREVIOUS}"]
        too_long = [name for name in names if len(name) > MYSQL_NAME_LIMIT]
        if too_long:
            raise RebuildRefused(f"database names {too_long} exceed {MYSQL_NAME_LIMIT} characters")
        return Places(live, live.set(database=names[0]), live.set(database=names[1]))
    path = Path(database)
    beside = [
        str(path.with_name(f"{path.stem}.{part}{path.suffix}")) for part in (SHADOW, PREVIOUS)
    ]
    return Places(live, live.set(database=beside[0]), live.set(database=beside[1]))


# --- what there is to read -------------------------------------------------------------


@dataclass(frozen=True)
class PartitionPlan:
    topic: str
    partition: int
    earliest: int  # the first retained offset
    committed: int  # the live group's next offset
    end: int
    start: int  # where the rebuild reads from

    @property
    def gone(self) -> int:
        """Offsets the rebuild should read that retention already deleted."""
        return max(0, self.earliest - self.start)

    @property
    def to_read(self) -> int:
        """Messages up to the live group's committed offset."""
        return max(0, self.committed - max(self.start, self.earliest))


class Phase(StrEnum):
    FRESH = "fresh"
    LOAD = "load"
    CATCH_UP = "catch up"


@dataclass(frozen=True)
class State:
    phase: Phase
    group: str | None = None  # the rebuild's consumer group, once prepared


@dataclass(frozen=True)
class Plan:
    phase: Phase
    group: str | None
    partitions: list[PartitionPlan]
    shadow_tables: list[str]
    previous_tables: list[str]

    @property
    def incomplete(self) -> list[PartitionPlan]:
        return [p for p in self.partitions if p.gone]

    def missing(self) -> str:
        """Which partitions lost which offsets, on one line."""
        return "; ".join(
            f"{p.topic}[{p.partition}] offsets {p.start}-{p.earliest - 1} ({p.gone:,})"
            for p in self.incomplete
        )


def make_plan(settings: ConsumerSettings, where: Places) -> Plan:
    state = current_state(where)
    marks = offsets.watermarks(settings.bootstrap_servers, settings.topics)
    live = offsets.committed_offsets(settings.bootstrap_servers, settings.group_id, settings.topics)
    # Offsets start at 0: anything before the first retained one was deleted.
    starts = dict.fromkeys(marks, 0)
    if state.group is not None:
        starts = offsets.committed_offsets(settings.bootstrap_servers, state.group, settings.topics)
    partitions = [
        PartitionPlan(topic, number, low, live.get((topic, number), 0), end, starts[topic, number])
        for (topic, number), (low, end) in sorted(marks.items())
    ]
    return Plan(
        state.phase,
        state.group,
        partitions,
        [where.table(where.shadow, name) for name in TABLES],
        [where.table(where.previous, name) for name in TABLES],
    )


# --- where the rebuild is ------------------------------------------------------------


def current_phase(where: Places) -> Phase:
    return current_state(where).phase


def current_state(where: Places) -> State:
    tables = _shadow_tables(where)
    if tables is None or STATE_TABLE not in tables:
        return State(Phase.FRESH)
    present = [name for name in TABLES if name in tables]
    if present and len(present) < len(TABLES):
        # The swap moves them all at once: some but not all is a damaged shadow.
        return State(Phase.FRESH)
    engine = create_engine(where.shadow)
    try:
        with engine.connect() as connection:
            group = connection.exec_driver_sql(f"SELECT consumer_group FROM {STATE_TABLE}").scalar()
    finally:
        engine.dispose()
    if group is None:
        return State(Phase.FRESH)
    return State(Phase.LOAD if present else Phase.CATCH_UP, str(group))


def _shadow_tables(where: Places) -> set[str] | None:
    """The tables of the shadow database; None when it does not exist."""
    if not where.mysql:
        if not Path(where.name(where.shadow)).exists():
            return None
        engine = create_engine(where.shadow)
        try:
            return set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    engine = create_engine(where.live)
    try:
        with engine.connect() as connection:
            return _mysql_tables(connection, where.name(where.shadow))
    finally:
        engine.dispose()


def _mysql_tables(connection: sa.Connection, database: str) -> set[str] | None:
    exists = connection.execute(
        sa.text("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"),
        {"name": database},
    ).first()
    if exists is None:
        return None
    found = connection.execute(
        sa.text("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = :name"),
        {"name": database},
    )
    return {str(row[0]) for row in found}


# --- progress ------------------------------------------------------------------------


class Progress(Protocol):
    """Shown as the rebuild reads: a bar in a terminal, log lines otherwise."""

    def phase(self, name: str, total: int) -> None: ...

    def update(self, done: int, total: int, behind_seconds: float | None) -> None: ...

    def close(self) -> None: ...


@dataclass
class LogProgress:
    """`rebuild.progress` log events, at most one per `every` seconds."""

    every: float = 5.0
    _name: str = ""
    _started: float = field(default_factory=time.monotonic)
    _last: float = 0.0

    def phase(self, name: str, total: int) -> None:
        self._name, self._started, self._last = name, time.monotonic(), 0.0
        log.info("rebuild.phase", phase=name, messages=total)

    def update(self, done: int, total: int, behind_seconds: float | None) -> None:
        now = time.monotonic()
        if now - self._last < self.every and done < total:
            return
        self._last = now
        rate = done / max(now - self._started, 1e-6)
        eta = (total - done) / rate if rate > 0 and total > done else 0.0
        log.info(
            "rebuild.progress",
            phase=self._name,
            messages=done,
            of=total,
            per_second=round(rate),
            eta_seconds=round(eta),
            event_time_lag_seconds=None if behind_seconds is None else round(behind_seconds),
        )

    def close(self) -> None:
        return None


# --- the loop ------------------------------------------------------------------------


class Loader(Service):
    """The service's loop, on the rebuild's group, until every partition reaches `target`.

    A partition has reached it when the messages applied and committed (or, for offsets
    that hold no message such as transaction markers, the consumer's position after a
    handled batch) are at the target offset or past it."""

    def __init__(
        self,
        settings: ConsumerSettings,
        start: dict[Partition, int],
        target: Callable[[], dict[Partition, int]],
        progress: Progress,
    ) -> None:
        super().__init__(settings)
        self.positions = dict(start)
        self.start = dict(start)
        self.target = target
        self.progress = progress
        self.reached = False
        self._goal: dict[Partition, int] = {}
        self._goal_read_at = -float("inf")

    def run(self) -> int:
        if self._caught_up():  # nothing to read: not even a join of the group
            self.reached = True
            self.consumer.close()
            self.engine.dispose()
            return EXIT_OK
        return super().run()

    def goal(self) -> dict[Partition, int]:
        if time.monotonic() - self._goal_read_at >= TARGET_REFRESH_SECONDS:
            self._goal = self.target()
            self._goal_read_at = time.monotonic()
        return self._goal

    def remaining(self) -> tuple[int, int]:
        """Messages done and to do, from the start to the goal."""
        goal = self.goal()
        total = sum(max(0, goal[p] - self.start.get(p, 0)) for p in goal)
        done = sum(
            min(max(0, self.positions.get(p, 0) - self.start.get(p, 0)), goal[p]) for p in goal
        )
        return done, max(total, done)

    def _caught_up(self) -> bool:
        goal = self.goal()
        fetched: dict[Partition, int] = {}
        if self.assigned:
            wanted = [TopicPartition(topic, number) for topic, number in sorted(self.assigned)]
            fetched = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(wanted)}
        return all(
            max(self.positions.get(p, 0), fetched.get(p, -1)) >= offset
            for p, offset in goal.items()
        )

    def _poll_batch(
        self, limit: int, written: futures.Future[BatchOutcome] | None = None
    ) -> list[Source]:
        if self._caught_up():
            if written is not None:
                # Everything is fetched, but a batch is still being written: it has to
                # commit (with its retries) before the rebuild may call itself done.
                return []
            self.reached = True
            self.stopping = True
            return []
        return super()._poll_batch(limit, written)

    def _commit_offsets(self, messages: Sequence[Source]) -> bool:
        # The batch's transaction committed: the shadow tables hold these messages.
        for message in messages:
            key = (message.topic, message.partition)
            self.positions[key] = max(self.positions.get(key, 0), message.offset + 1)
        return super()._commit_offsets(messages)

    def _observe(
        self, messages: Sequence[Source], outcome: BatchOutcome, seconds: float, limit: int
    ) -> None:
        super()._observe(messages, outcome, seconds, limit)
        lags = [
            lag
            for topic in self.settings.topics
            if (lag := self.metrics.event_time_lag_seconds(topic)) is not None
        ]
        done, total = self.remaining()
        self.progress.update(done, total, max(lags) if lags else None)


# --- the command ---------------------------------------------------------------------


@dataclass
class Options:
    allow_partial: bool = False
    drop_old: bool = False


@dataclass
class Outcome:
    plan: Plan
    swapped: bool = False
    dropped_old: bool = False


class Rebuild:
    """One run of `analytics rebuild`; `stop()` (from a signal handler) interrupts it."""

    def __init__(
        self, settings: ConsumerSettings, options: Options, progress: Progress | None = None
    ) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress or LogProgress()
        self.where = places(settings.database_url)
        self.group = ""  # the rebuild's consumer group, chosen or found by run()
        self.loader: Loader | None = None
        self.stopping = False

    def stop(self, *_args: object) -> None:
        self.stopping = True
        if self.loader is not None:
            self.loader.stop()

    def run(self) -> Outcome:
        self._check_live()
        with exclusive(self.where):
            return self._run()

    def _run(self) -> Outcome:
        plan = make_plan(self.settings, self.where)
        refuse = plan.phase is not Phase.CATCH_UP  # once swapped, finishing is the way out
        if plan.incomplete and refuse and not self.options.allow_partial:
            raise RebuildRefused(
                f"retention already deleted events the rebuild needs: {plan.missing()}; the "
                "rebuilt tables would lack the entities they created (--allow-partial "
                "rebuilds from what is left)"
            )
        if plan.incomplete:
            log.warning("rebuild.partial", missing=plan.missing())
        outcome = Outcome(plan)
        log.info(
            "rebuild.started", phase=str(plan.phase), shadow=self.where.name(self.where.shadow)
        )
        if plan.phase is Phase.FRESH:
            self._prepare(plan)
        else:
            assert plan.group is not None
            self.group = plan.group
        if plan.phase in (Phase.FRESH, Phase.LOAD):
            self._load(plan)
            self._swap()
        outcome.swapped = True
        self._catch_up()
        self._drop(self.where.shadow)
        if self.options.drop_old:
            self._drop(self.where.previous)
            outcome.dropped_old = True
        log.info("rebuild.finished", previous=None if outcome.dropped_old else self._kept())
        return outcome

    def _kept(self) -> str:
        return self.where.name(self.where.previous)

    # --- checks ---

    def _check_live(self) -> None:
        engine = create_engine(self.where.live)
        try:
            head = migrate.pending_revision(engine)
        except sa.exc.DBAPIError as exc:
            raise self._refused(exc) from exc
        finally:
            engine.dispose()
        if head is not None:
            raise RebuildRefused(
                f"{_shown(self.where.live)} is not migrated to {head}; run "
                "`analytics migrate upgrade` first"
            )

    def _refused(self, exc: sa.exc.DBAPIError) -> Exception:
        problem = permanent_problem(exc)
        if problem is None:
            return exc
        fix = "check the database URL"
        if problem is Problem.PERMISSION_DENIED:
            databases = ", ".join(
                f"`{self.where.name(url)}`.*"
                for url in (self.where.live, self.where.shadow, self.where.previous)
            )
            fix = (
                f"the rebuild needs a user allowed DDL: GRANT ALL PRIVILEGES ON each of {databases}"
            )
        return RebuildRefused(
            f"{problem} ({_shown(self.where.live)}): {server_message(exc)}; fix: {fix}"
        )

    # --- phase 1 ---

    def _prepare(self, plan: Plan) -> None:
        """A new shadow database at the head revision, the rebuild's group at the start."""
        self._drop(self.where.previous)  # what an earlier rebuild replaced
        self._drop(self.where.shadow)  # an interrupted preparation
        if self.where.mysql:
            self._create_mysql_databases()
        migrate.upgrade(self.where.shadow.render_as_string(hide_password=False))
        started = datetime.now(UTC).replace(tzinfo=None)
        self.group = rebuild_group(self.settings.group_id, started)
        engine = create_engine(self.where.shadow)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    f"CREATE TABLE {STATE_TABLE} (started_at DATETIME NOT NULL, "
                    "consumer_group VARCHAR(255) NOT NULL)"
                )
                connection.execute(
                    sa.text(f"INSERT INTO {STATE_TABLE} VALUES (:started, :group)"),
                    {"started": started, "group": self.group},
                )
        finally:
            engine.dispose()
        log.info("rebuild.prepared", tables=plan.shadow_tables)

    def _create_mysql_databases(self) -> None:
        """The shadow and previous databases, and a probe of what the swap will need: a
        table renamed into the live database and out of it, in one statement."""
        live, shadow, previous = (
            self.where.name(u) for u in (self.where.live, self.where.shadow, self.where.previous)
        )
        engine = create_engine(self.where.live)
        try:
            with engine.connect() as connection:
                charset, collation = connection.execute(
                    sa.text(
                        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
                    ),
                    {"name": live},
                ).one()
                for name in (shadow, previous):
                    connection.exec_driver_sql(
                        f"CREATE DATABASE IF NOT EXISTS `{name}` "
                        f"CHARACTER SET {charset} COLLATE {collation}"
                    )
                connection.exec_driver_sql(f"CREATE TABLE `{shadow}`.`{PROBE_TABLE}` (id INT)")
                connection.exec_driver_sql(
                    f"RENAME TABLE `{shadow}`.`{PROBE_TABLE}` TO `{live}`.`{PROBE_TABLE}`, "
                    f"`{live}`.`{PROBE_TABLE}` TO `{previous}`.`{PROBE_TABLE}`"
                )
                connection.exec_driver_sql(f"DROP TABLE `{previous}`.`{PROBE_TABLE}`")
        except sa.exc.DBAPIError as exc:
            raise self._refused(exc) from exc
        finally:
            engine.dispose()

    # --- phases 2 and 4 ---

    def _load(self, plan: Plan) -> None:
        live_offsets = _live_offsets(self.settings)
        self._run_loader(self.where.shadow, live_offsets, "load")

    def _catch_up(self) -> None:
        # Read after the swap: every message the service applied to the replaced tables.
        ends = offsets.end_offsets(self.settings.bootstrap_servers, self.settings.topics)
        self._run_loader(self.where.live, lambda: ends, "catch up")

    def _run_loader(self, url: URL, target: Callable[[], dict[Partition, int]], name: str) -> None:
        if self.stopping:
            raise Interrupted
        servers, topics = self.settings.bootstrap_servers, self.settings.topics
        committed = offsets.committed_offsets(servers, self.group, topics)
        marks = offsets.watermarks(servers, topics)
        starts = {p: max(committed.get(p, 0), low) for p, (low, _end) in marks.items()}
        settings = self.settings.model_copy(
            update={
                "group_id": self.group,
                "database_url": url.render_as_string(hide_password=False),
                "metrics_port": 0,
            }
        )
        self.loader = Loader(settings, starts, target, self.progress)
        self.progress.phase(name, self.loader.remaining()[1])
        code = self.loader.run()
        reached = self.loader.reached
        self.loader = None
        if code != EXIT_OK:
            raise LoaderFailed(code)
        if not reached:
            raise Interrupted

    # --- phase 3 ---

    def _swap(self) -> None:
        if self.stopping:
            raise Interrupted
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            try:
                if self.where.mysql:
                    self._swap_mysql()
                else:
                    self._swap_sqlite()
            except sa.exc.DBAPIError as exc:
                if not is_transient(exc) or permanent_problem(exc) or attempt == SWAP_ATTEMPTS:
                    raise
                log.warning("rebuild.swap_retry", attempt=attempt, error=server_message(exc))
                self._sleep(min(30.0, 0.5 * 2**attempt))
                continue
            log.info("rebuild.swapped", previous=self.where.name(self.where.previous))
            return

    def _swap_mysql(self) -> None:
        live, shadow, previous = (
            self.where.name(u) for u in (self.where.live, self.where.shadow, self.where.previous)
        )
        kept = ", ".join(f"`{previous}`.`{name}`" for name in reversed(TABLES))
        moves = ", ".join(
            f"`{live}`.`{name}` TO `{previous}`.`{name}`, `{shadow}`.`{name}` TO `{live}`.`{name}`"
            for name in TABLES
        )
        engine = create_engine(self.where.live)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(
                    f"SET SESSION lock_wait_timeout = {SWAP_LOCK_WAIT_SECONDS}"
                )
                connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{previous}`")
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {kept}")
                # One statement: readers and the service wait on its metadata locks and
                # then find the new tables; a crash leaves all old or all new.
                connection.exec_driver_sql(f"RENAME TABLE {moves}")
        finally:
            engine.dispose()

    def _swap_sqlite(self) -> None:
        """The rows of every table replaced in one transaction of the live file, the old
        ones copied to the previous file first. The shadow tables are then dropped, which
        marks the swap as done; if that is lost the next run swaps again, which the
        catch-up after it makes harmless."""
        previous = self.where.name(self.where.previous)
        for path in _sqlite_files(previous):
            path.unlink(missing_ok=True)
        migrate.upgrade(self.where.previous.render_as_string(hide_password=False))
        engine = create_engine(self.where.live)
        try:
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("ATTACH DATABASE ? AS shadow", (self.where.name(self.where.shadow),))
                cursor.execute("ATTACH DATABASE ? AS previous", (previous,))
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    for schema, source in (("previous", "main"), ("main", "shadow")):
                        for name in reversed(TABLES):
                            cursor.execute(f'DELETE FROM {schema}."{name}"')
                        for name in TABLES:
                            columns = ", ".join(
                                f'"{c.name}"' for c in metadata.tables[name].columns
                            )
                            cursor.execute(
                                f'INSERT INTO {schema}."{name}" ({columns}) '
                                f'SELECT {columns} FROM {source}."{name}"'
                            )
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("DETACH DATABASE shadow")
                cursor.execute("DETACH DATABASE previous")
                cursor.close()
            finally:
                raw.close()
        finally:
            engine.dispose()
        shadow = create_engine(self.where.shadow)
        try:
            with shadow.begin() as connection:
                for name in reversed(TABLES):
                    connection.exec_driver_sql(f'DROP TABLE "{name}"')
        finally:
            shadow.dispose()

    # --- phase 5 ---

    def _drop(self, url: URL) -> None:
        name = self.where.name(url)
        if not self.where.mysql:
            for path in _sqlite_files(name):
                path.unlink(missing_ok=True)
            return
        engine = create_engine(self.where.live)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        except sa.exc.DBAPIError as exc:
            raise self._refused(exc) from exc
        finally:
            engine.dispose()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stopping:
                raise Interrupted
            time.sleep(0.1)


class LoaderFailed(Exception):
    """The service loop stopped with a non-zero exit code (its log line says why)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the rebuild's consumer stopped with exit code {code}")
        self.code = code


@contextmanager
def exclusive(where: Places) -> Iterator[None]:
    """Held while a rebuild of this database runs (released by the server or the kernel
    when its process dies, SIGKILL included): two rebuilds would share the shadow tables."""
    if not where.mysql:
        path = Path(where.name(where.shadow) + ".lock")
        with path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RebuildRefused(
                    f"another rebuild of {where.name(where.live)} is running"
                ) from None
            yield
        return
    engine = create_engine(where.live, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            name = f"analytics rebuild {where.name(where.live)}"[:64]
            taken = connection.execute(
                sa.text("SELECT GET_LOCK(:name, 0)"), {"name": name}
            ).scalar()
            if taken != 1:
                raise RebuildRefused(f"another rebuild of {where.name(where.live)} is running")
            yield
    finally:
        engine.dispose()


def _live_offsets(settings: ConsumerSettings) -> Callable[[], dict[Partition, int]]:
    def read() -> dict[Partition, int]:
        return offsets.committed_offsets(
            settings.bootstrap_servers, settings.group_id, settings.topics
        )

    return read


def _sqlite_files(path: str) -> list[Path]:
    return [Path(path + suffix) for suffix in ("", "-wal", "-shm", "-journal")]


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


class TerminalProgress:
    """A Rich progress bar: messages read of those up to the target, rate, time left, and
    how far behind in event time the rebuilt tables are."""

    def __init__(self, console: Console) -> None:
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[behind]}"),
            console=console,
        )
        self._task: TaskID | None = None
        self._started = time.monotonic()

    def phase(self, name: str, total: int) -> None:
        if self._task is None:
            self._bar.start()
        else:
            self._bar.update(self._task, visible=False)
        self._started = time.monotonic()
        self._task = self._bar.add_task(name, total=total, rate="0", behind="")

    def update(self, done: int, total: int, behind_seconds: float | None) -> None:
        if self._task is None:
            return
        rate = done / max(time.monotonic() - self._started, 1e-6)
        behind = "" if behind_seconds is None else f"events {_duration(behind_seconds)} old"
        self._bar.update(
            self._task, completed=done, total=total, rate=f"{rate:,.0f}", behind=behind
        )

    def close(self) -> None:
        if self._task is not None:
            self._bar.stop()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def dry_run_table(plan: Plan, where: Places) -> Table:
    table = Table(title=f"Rebuild of {_shown(where.live)} ({plan.phase})")
    for column in ("topic", "partition", "earliest retained", "live committed", "end", "to read"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    table.add_column("gone")
    for p in plan.partitions:
        gone = f"{p.gone:,} (offsets {p.start}-{p.earliest - 1})" if p.gone else ""
        table.add_row(
            p.topic,
            str(p.partition),
            f"{p.earliest:,}",
            f"{p.committed:,}",
            f"{p.end:,}",
            f"{p.to_read:,}",
            gone,
        )
    return table


def print_plan(plan: Plan, where: Places) -> None:
    out = Console()
    if not out.is_terminal:  # a file or a pipe: whole lines, not wrapped at 80 columns
        out = Console(width=200, soft_wrap=True)
    out.print(dry_run_table(plan, where))
    lines = [
        f"Messages to read: {sum(p.to_read for p in plan.partitions):,}",
        "Tables it would create: " + ", ".join(plan.shadow_tables),
        "The live tables would then be kept as: " + ", ".join(plan.previous_tables),
    ]
    if plan.incomplete:
        lines.append(f"Retention already deleted: {plan.missing()} (needs --allow-partial)")
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def command(settings: ConsumerSettings, options: Options, dry_run: bool) -> int:
    """`analytics rebuild`: the dry-run report or the rebuild, its exit code."""
    console = Console(stderr=True)
    err = Console(stderr=True)
    try:
        rebuild = Rebuild(settings, options)
        if dry_run:
            plan = make_plan(settings, rebuild.where)
            print_plan(plan, rebuild.where)
            return EXIT_OK
        if console.is_terminal:
            rebuild.progress = TerminalProgress(console)
        signal.signal(signal.SIGTERM, rebuild.stop)
        signal.signal(signal.SIGINT, rebuild.stop)
        tune_garbage_collector()
        try:
            outcome = rebuild.run()
        finally:
            rebuild.progress.close()
    except RebuildRefused as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_REFUSED
    except Interrupted:
        err.print("Interrupted; run the same command again to resume.", markup=False)
        return EXIT_INTERRUPTED
    except LoaderFailed as exc:
        return exc.code
    if outcome.plan.incomplete:
        err.print(f"Rebuilt without what retention deleted: {outcome.plan.missing()}", markup=False)
    kept = (
        "dropped"
        if outcome.dropped_old
        else f"kept in {rebuild.where.name(rebuild.where.previous)}"
    )
    Console().print(
        f"Rebuilt {_shown(rebuild.where.live)}; the replaced tables are {kept}.", markup=False
    )
    return EXIT_OK


__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_REFUSED",
    "Interrupted",
    "LoaderFailed",
    "Options",
    "Outcome",
    "Plan",
    "Rebuild",
    "RebuildRefused",
    "make_plan",
    "places",
]
