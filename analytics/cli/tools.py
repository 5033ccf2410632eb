"""The tools around the service: load, report, demo, broker, simulate and bench.

Each imports its machinery (the simulator, the demo, the report, the bench) when it runs,
not when the command line starts, so that `analytics consume` does not carry them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics import migrate
from analytics.cli.boundary import (
    EXIT_FAILED,
    EXIT_KAFKA,
    EXIT_KAFKA_UNREACHABLE,
    EXIT_USAGE,
    Failure,
    Known,
    translated,
)
from analytics.cli.database import (
    DatabaseUrl,
    chosen_url,
    database_errors,
    migrated_engine,
)
from analytics.cli.deadletters import OutputFormat
from analytics.cli.settings import iso_time, secret_names
from analytics.db import DATABASE_URL_ENV, create_engine, masked

if TYPE_CHECKING:
    from analytics.demo import Outcome
    from producer_sim.sinks import Tally

# Defaults of the tools, kept here so that --help shows them without importing the tools
# (tests/cli/test_tools.py checks them against the tools' own).
DEFAULT_TOP = 10
DEFAULT_DEMO_DATABASE = Path("analytics-data") / "demo.db"
BENCH_EVENTS = 100_000
BENCH_BATCH_SIZE = 5000
BENCH_BATCH_SIZES = (100, 500, 1000, 2000, 5000)
BENCH_BASELINE_EVENTS = 5000
BENCH_DATABASE_URL = "mysql+mysqldb://root@127.0.0.1:3306/analytics_bench"
BENCH_OUTPUT_DIR = Path("analytics-data") / "bench"
BENCH_SEED = 42
BENCH_PARTITIONS = 16
BENCH_SCALE_OUT = 2
BENCH_LONG_EVENTS = 1_000_000


def tool_errors() -> tuple[Known, ...]:
    """The tools' known mistakes, each one line and an exit code; imported when a tool runs."""
    from analytics.bench import BenchError
    from analytics.brokers import BrokerUnreachable
    from producer_sim.sinks import KafkaSinkError

    return (
        Known(BrokerUnreachable, EXIT_KAFKA_UNREACHABLE),
        Known(KafkaSinkError, EXIT_KAFKA, lambda exc: f"Kafka: {exc}"),
        Known(BenchError, EXIT_FAILED),
    )


def _option(help_text: str) -> Any:
    return typer.Option(help=help_text, show_default=False)


def load_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Event files: a .json file is one envelope; .jsonl/.ndjson files and '-' "
            "(standard input) hold one envelope per line.",
            show_default=False,
        ),
    ],
    database_url: DatabaseUrl = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Events per transaction.")
    ] = 1000,
    upgrade: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Run the Alembic migrations first. Default: only for SQLite databases.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Apply events from files to the read model, dead-lettering what cannot apply."""
    from analytics.load import load, read_messages
    from analytics.pipeline import tune_garbage_collector

    secrets = secret_names()
    url = chosen_url(database_url)
    for path in files:
        _readable(path)
    with database_errors(url):
        if upgrade if upgrade is not None else url.startswith("sqlite"):
            migrate.upgrade(url)
    engine = migrated_engine(url)
    messages = [message for path in files for message in read_messages(path)]
    tune_garbage_collector()
    console = Console(stderr=True)
    with (
        database_errors(url),
        Progress(console=console, disable=not console.is_terminal, transient=True) as progress,
    ):
        task = progress.add_task("Applying events", total=len(messages))
        outcome = load(engine, messages, batch_size, secrets, lambda n: progress.advance(task, n))
    engine.dispose()
    summary = Table(title=f"Loaded {len(messages)} messages into {masked(url)}")
    summary.add_column("outcome")
    summary.add_column("messages", justify="right")
    summary.add_row("applied", str(outcome.applied))
    summary.add_row("stale (older than the stored row)", str(outcome.stale))
    for reason, count in sorted(outcome.reasons.items()):
        summary.add_row(f"dead-lettered: {reason}", str(count))
    Console().print(summary)


def _readable(path: Path) -> None:
    """A file argument that names nothing readable is refused before anything is opened."""
    if str(path) == "-":
        return
    if path.is_dir():
        raise Failure(
            f"{path} is a directory; give the files in it, e.g. {path}/*.jsonl", EXIT_USAGE
        )
    if not path.is_file():
        raise Failure(f"{path}: no such file; give event files (.json, .jsonl) or '-'", EXIT_USAGE)


def report_command(
    database_url: DatabaseUrl = None,
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="table, or json: one JSON document (cents as integers)."),
    ] = OutputFormat.TABLE,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000,
            help="Only orders, posts and users created in the last N UTC days, today included."
            " Default: all.",
            show_default=False,
        ),
    ] = None,
    top: Annotated[
        int, typer.Option(min=1, max=1000, help="Products and suppliers to rank.")
    ] = DEFAULT_TOP,
) -> None:
    """Orders and revenue per day, top products and suppliers, order status mix, posts."""
    from analytics.report import read_report, render_tables, report_json

    url = chosen_url(database_url)
    engine = migrated_engine(url)
    try:
        with database_errors(url):
            report = read_report(engine, days=days, top=top)
    finally:
        engine.dispose()
    if output is OutputFormat.JSON:
        typer.echo(report_json(report))
        return
    console = Console()
    for table in render_tables(report):
        console.print(table)
        console.print()


def demo_command(
    events: Annotated[
        int, typer.Option(min=1, max=200_000, help="Clean events to simulate.")
    ] = 3000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 42,
    start: StartOption = None,
    partitions: Annotated[
        int, typer.Option(min=1, max=64, help="Partitions per topic of the embedded broker.")
    ] = 3,
    duplicates: Annotated[
        float, typer.Option(min=0, max=1, help="Share of duplicate deliveries injected.")
    ] = 0.02,
    stale: Annotated[
        float, typer.Option(min=0, max=1, help="Share of stale re-sends injected.")
    ] = 0.02,
    poison: Annotated[
        float, typer.Option(min=0, max=1, help="Share of poison messages injected.")
    ] = 0.005,
    bootstrap_servers: Annotated[
        str | None,
        _option(
            "Use this Kafka instead of the embedded broker (only this flag:"
            " ANALYTICS_BOOTSTRAP_SERVERS is not read)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        _option(
            f"Use this database instead of a fresh sqlite:///{DEFAULT_DEMO_DATABASE} (only this"
            " flag: ANALYTICS_DATABASE_URL is not read)."
        ),
    ] = None,
) -> None:
    """Run the whole pipeline on this machine: broker, database, consumer, traffic, report.

    It writes only to its embedded broker and its own SQLite file unless given other
    servers by flags: the service's environment variables are not read.
    """
    from analytics.demo import DemoOptions, run_demo
    from analytics.logs import configure as configure_logging

    url = chosen_url(database_url) if database_url else f"sqlite:///{DEFAULT_DEMO_DATABASE}"
    if bootstrap_servers is not None:
        # A Kafka that does not answer gets its one line before any other output.
        from analytics.brokers import check_reachable

        with translated(*tool_errors()):
            check_reachable(bootstrap_servers)
    typer.echo(_demo_setup(bootstrap_servers, database_url, url))
    configure_logging("ERROR", "console")
    options = DemoOptions(
        events,
        seed,
        partitions,
        duplicates,
        stale,
        poison,
        bootstrap_servers,
        database_url,
        _utc(start) if start else None,
    )
    console = Console(stderr=True)
    with (
        translated(*tool_errors()),
        database_errors(url),
        _counting_progress(console) as progress,
    ):
        produced = progress.add_task("Produced", total=None)
        applied = progress.add_task("Applied ", total=None)

        def show(done_producing: int, done_applying: int) -> None:
            progress.update(produced, completed=done_producing)
            progress.update(applied, completed=done_applying, total=done_producing)

        result = run_demo(options, show)
    typer.echo(
        f"Streamed {result.produced:,} messages through Kafka into {masked(url)}"
        f" in {result.seconds:.1f}s."
    )
    for line in _guarantee_lines(result.injected, result.outcome):
        typer.echo(line)
    _print_demo_summary(url)


def _demo_setup(bootstrap_servers: str | None, database_url: str | None, url: str) -> str:
    """What the demo is about to write to, and which variables it leaves alone."""
    kafka = bootstrap_servers or "the embedded broker"
    database = masked(url) if database_url else f"a fresh {url}"
    ignored = [
        name for name in ("ANALYTICS_BOOTSTRAP_SERVERS", DATABASE_URL_ENV) if os.environ.get(name)
    ]
    note = (
        f" ({' and '.join(ignored)} not read: the demo uses other servers only when given"
        " --bootstrap-servers or --database-url.)"
        if ignored
        else ""
    )
    return f"Demo: Kafka is {kafka}; the database is {database}.{note}"


def _guarantee_lines(injected: Tally, outcome: Outcome) -> list[str]:
    """What was injected next to what the consumer made of it, from its own counters."""
    resent = injected.duplicates + injected.stale
    again = outcome.applied - injected.clean  # clean events all apply, once each
    return [
        f"Injected: {injected.duplicates:,} duplicate deliveries, {injected.stale:,} stale"
        f" re-sends and {injected.poison:,} poison messages among {injected.clean:,} events.",
        f"Absorbed: {again + outcome.stale:,} of {resent:,} re-sent messages —"
        f" {outcome.stale:,} skipped as older than the stored row, {again:,} applied again at"
        " their own version (no row changed).",
        f"Dead-lettered: {outcome.dead_lettered:,} of {injected.poison:,} poison messages"
        " (`analytics dlq list` says why).",
    ]


def _counting_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )


DEMO_TOP = 5


def _print_demo_summary(url: str) -> None:
    import sqlalchemy as sa

    from analytics.report import read_report, render_tables
    from analytics.schema import READ_MODEL_TABLES, dead_letters

    engine = create_engine(url)
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in READ_MODEL_TABLES
        }
        reasons = connection.execute(
            sa.select(dead_letters.c.error_class, sa.func.count()).group_by(
                dead_letters.c.error_class
            )
        ).all()
    report = read_report(engine, top=DEMO_TOP)
    engine.dispose()
    table = Table(title="Read model")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count))
    for reason, count in sorted(reasons):
        table.add_row(f"dead_letters: {reason}", str(count))
    console = Console()
    for section in [table, *render_tables(report)]:
        console.print(section)
    typer.echo("Next, try:")
    typer.echo(f"  analytics report --database-url {masked(url)}")
    typer.echo(f"  analytics dlq list --database-url {masked(url)}")
    typer.echo("  analytics consume --help")


def broker_command(
    partitions: Annotated[int, typer.Option(min=1, max=64, help="Partitions per topic.")] = 3,
    brokers: Annotated[int, typer.Option(min=1, max=5, help="Mock brokers in the cluster.")] = 1,
    port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="Bootstrap port on 127.0.0.1; 0 = one the system picks."
        ),
    ] = 0,
) -> None:
    """Run an embedded Kafka broker (in memory) with the five topics until interrupted.

    It is librdkafka's mock cluster: real Kafka protocol on 127.0.0.1, no persistence,
    about 5 MB kept per partition. For demos and tests, not production. It prints the line
    that points the other commands at it.
    """
    from analytics.broker import EmbeddedBroker, PortForward

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with EmbeddedBroker(brokers=brokers, partitions=partitions) as broker:
        forward = PortForward(port, broker.bootstrap_servers) if port else None
        address = forward.address if forward else broker.bootstrap_servers
        typer.echo(f"export ANALYTICS_BOOTSTRAP_SERVERS={address}")
        sys.stdout.flush()
        typer.echo(
            f"Embedded broker: {partitions} partitions per topic, in memory; Ctrl-C stops it.",
            err=True,
        )
        stop.wait()
        if forward:
            forward.close()


StartOption = Annotated[
    datetime | None,
    typer.Option(
        parser=iso_time,
        metavar="ISO",
        help="Time of the simulated world's first event (UTC unless it has an offset)."
        " Default: early enough that its last event is in the past.",
        show_default=False,
    ),
]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def simulate_command(
    seed: Annotated[
        int,
        typer.Option(help="Seed of the simulated world; a seed and a --start give the same bytes."),
    ] = 42,
    start: StartOption = None,
    events: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Clean events to generate; injected faults come on top. "
            "Default: 1000, or no limit with --duration.",
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(min=0.0, help="Stop after this many seconds.", show_default=False),
    ] = None,
    domains: Annotated[
        str | None, _option("Comma-separated topics to emit, e.g. user,order. Default: all.")
    ] = None,
    duplicates: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Chance per event of a duplicate delivery later on."),
    ] = 0.0,
    stale: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Chance per event of an older event of its entity re-sent right after it.",
        ),
    ] = 0.0,
    poison: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Chance per event of an injected poison message."),
    ] = 0.0,
    colliding_order_numbers: Annotated[
        bool,
        typer.Option(
            "--colliding-order-numbers",
            help="Order numbers as the backend makes them (4 hex digits): unique within the"
            " run, but they collide with other runs' (key_conflict dead letters).",
        ),
    ] = False,
    output: Annotated[
        Path | None, _option("JSON-lines file to write; '-' (the default) is standard output.")
    ] = None,
    bootstrap_servers: Annotated[
        str | None, _option("Produce to this Kafka cluster instead of writing a file.")
    ] = None,
    rate: Annotated[
        float, typer.Option(min=0.0, help="Most messages per second; 0 = as fast as possible.")
    ] = 0.0,
) -> None:
    """Generate realistic platform events (the same for the same seed) to a file or Kafka.

    Each line of the output is one message value, as `analytics load` reads .jsonl files.
    No event is stamped later than the moment the run starts.
    """
    from producer_sim import recent_start
    from producer_sim import run as simulator
    from producer_sim.orders import BACKEND_ORDER_DIGITS, UNIQUE_ORDER_DIGITS

    if output is not None and bootstrap_servers is not None:
        raise typer.BadParameter("give --output or --bootstrap-servers, not both")
    try:
        chosen = simulator.parse_domains(domains)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--domains") from None
    if events is None:
        events = simulator.UNLIMITED if duration is not None else 1000
    now = datetime.now(UTC)
    known_length = events < simulator.UNLIMITED and chosen is None
    first = _utc(start) if start else recent_start(now, events if known_length else None)
    simulation = simulator.Simulation(
        seed,
        events,
        chosen,
        duplicates,
        stale,
        poison,
        start=first,
        order_digits=BACKEND_ORDER_DIGITS if colliding_order_numbers else UNIQUE_ORDER_DIGITS,
        not_after=now,
    )
    console = Console(stderr=True)
    with translated(*tool_errors(), Known(OSError, EXIT_USAGE, _os_error)):
        tally = simulator.run(simulation, console, output, bootstrap_servers, rate, duration)
    destination = bootstrap_servers or str(output or "standard output")
    console.print(simulator.describe(tally, destination), soft_wrap=True)
    console.print(f"The simulated world starts at {first:%Y-%m-%d %H:%M:%S} UTC.", soft_wrap=True)
    if tally.clean < events and duration is None:
        console.print(
            f"It reached the present after {tally.clean:,} events; give an earlier --start"
            " for more.",
            soft_wrap=True,
        )


def _os_error(exc: OSError) -> str:
    return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)


def bench_command(
    events: Annotated[
        int, typer.Option(min=1, help="Simulated events of the main end-to-end run.")
    ] = BENCH_EVENTS,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Consumer batch size of the main run.")
    ] = BENCH_BATCH_SIZE,
    batch_sizes: Annotated[
        str, typer.Option(help="Comma-separated batch sizes of the sweep; '' skips it.")
    ] = ",".join(map(str, BENCH_BATCH_SIZES)),
    sweep_events: Annotated[
        int | None,
        typer.Option(
            min=1, help="Events per sweep point. Default: --events / 4.", show_default=False
        ),
    ] = None,
    baseline_events: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Events applied seed-style (the last ones of the stream; it is slow). "
            f"Default: {BENCH_BASELINE_EVENTS}, at most --events.",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str,
        typer.Option(
            help="MySQL or MariaDB database the bench creates, migrates and empties "
            "(its name must contain 'bench'). SQLite is not supported."
        ),
    ] = BENCH_DATABASE_URL,
    output_dir: Annotated[
        Path, typer.Option(help="Where bench-results.json, bench-summary.md and logs go.")
    ] = BENCH_OUTPUT_DIR,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = BENCH_SEED,
    partitions: Annotated[
        int, typer.Option(min=1, max=64, help="Partitions per topic of the embedded broker.")
    ] = BENCH_PARTITIONS,
    scale_out: Annotated[
        int,
        typer.Option(
            min=0,
            help="Consumer processes in one group for the scale-out run (main batch size,"
            " --sweep-events events); 0 or 1 skips it.",
        ),
    ] = BENCH_SCALE_OUT,
    long_events: Annotated[
        int,
        typer.Option(
            min=0,
            help="Events of the long run (one consumer, main batch size, reported by"
            " segment of 100,000); 0 skips it.",
        ),
    ] = BENCH_LONG_EVENTS,
) -> None:
    """Measure the service end to end next to the raw ceiling and a seed-style baseline.

    Same events, database and machine: the real consumer fed by the embedded broker,
    alone and scaled out to several processes in one group; the same rows written with
    plain multi-row upserts; the same events applied one statement per row, one commit
    per event.
    """
    from analytics import bench

    try:
        sizes = tuple(int(size) for size in batch_sizes.split(",") if size.strip())
    except ValueError:
        raise typer.BadParameter(
            "give whole numbers, e.g. 100,500", param_hint="--batch-sizes"
        ) from None
    options = bench.BenchOptions(
        events=events,
        batch_size=batch_size,
        batch_sizes=sizes,
        sweep_events=sweep_events,
        baseline_events=baseline_events,
        database_url=database_url,
        output_dir=output_dir,
        seed=seed,
        partitions=partitions,
        scale_out=scale_out,
        long_events=long_events,
    )
    console = Console(stderr=True)
    with (
        translated(*tool_errors()),
        Progress(console=console, disable=not console.is_terminal, transient=True) as shown,
    ):
        results = bench.run(options, bench.RichProgress(shown))
    out = Console(width=None if sys.stdout.isatty() else 160)
    out.print(bench.methods_table(results, out.width))
    if results.sweep:
        out.print(bench.sweep_table(results, out.width))
    if results.scale_out is not None:
        out.print(bench.scale_out_table(results.scale_out, results.sweep, out.width))
    out.print(bench.stages_table(results, out.width))
    if results.long_run is not None:
        out.print(bench.long_run_table(results.long_run, out.width))
    typer.echo(bench.ratio_line(results))
    for line in bench.target_lines(results):
        typer.echo(line)
    typer.echo(f"Wrote {output_dir / bench.RESULTS_FILE} and {output_dir / bench.SUMMARY_FILE}.")
