"""One simulation run, end to end: the clean stream, its faults, a sink and a progress bar."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from analytics.brokers import check_reachable
from producer_sim.faults import inject_faults
from producer_sim.message import Message
from producer_sim.orders import UNIQUE_ORDER_DIGITS
from producer_sim.randomness import START
from producer_sim.sinks import JsonLinesSink, KafkaSink, KafkaSinkError, Sink, Tally, send_all
from producer_sim.world import generate, parse_domains

__all__ = [
    "UNLIMITED",
    "KafkaSinkError",
    "Simulation",
    "Tally",
    "describe",
    "parse_domains",
    "progress_bar",
    "run",
]

STDOUT = Path("-")
UNLIMITED = sys.maxsize  # events, when only a duration bounds the run


@dataclass(frozen=True, slots=True)
class Simulation:
    """What to generate: `events` clean events of the world `seed` from `start` (ending
    before the first event after `not_after`), plus faults at the given rates (each a
    probability per clean event)."""

    seed: int
    events: int
    domains: frozenset[str] | None = None
    duplicates: float = 0.0
    stale: float = 0.0
    poison: float = 0.0
    start: datetime = START
    order_digits: int = UNIQUE_ORDER_DIGITS
    not_after: datetime | None = None

    def messages(self) -> Iterator[Message]:
        return inject_faults(
            generate(
                self.seed,
                self.events,
                self.domains,
                start=self.start,
                order_digits=self.order_digits,
                not_after=self.not_after,
            ),
            seed=self.seed,
            duplicates=self.duplicates,
            stale=self.stale,
            poison=self.poison,
        )


class RateColumn(ProgressColumn):
    """Events per second, as measured by the progress bar."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} events/s", style="progress.data.speed")


def progress_bar(console: Console) -> Progress:
    """Bar, count, rate, elapsed time and ETA; shown only when `console` is a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


def run(
    simulation: Simulation,
    console: Console,
    output: Path | None = None,
    bootstrap_servers: str | None = None,
    rate: float = 0.0,
    duration: float | None = None,
) -> Tally:
    """Write the simulation to Kafka (when `bootstrap_servers` is given) or to `output`
    (a JSON-lines file, or standard output for None or "-"); return what was written.
    With `duration`, stop after that many seconds if the events are not all out by then.

    Raises BrokerUnreachable when no broker answers (within a few seconds), KafkaSinkError
    when Kafka refuses or cannot take the messages.
    """
    with ExitStack() as stack:
        sink: Sink
        if bootstrap_servers is not None:
            check_reachable(bootstrap_servers)
            try:
                sink = KafkaSink(bootstrap_servers, rate=rate)
            except KafkaException as exc:
                raise KafkaSinkError(str(exc)) from exc
            stack.enter_context(sink)
        elif output is None or output == STDOUT:
            sink = stack.enter_context(JsonLinesSink(sys.stdout.buffer, rate=rate))
        else:
            stream = stack.enter_context(output.open("wb"))
            sink = stack.enter_context(JsonLinesSink(stream, rate=rate))
        progress = stack.enter_context(progress_bar(console))
        total = simulation.events if simulation.events < UNLIMITED else None
        task = progress.add_task("Simulating", total=total)

        def advance(message: Message) -> None:
            if not message.injected:
                progress.advance(task)

        tally = Tally()
        try:
            messages = simulation.messages()
            if duration is not None:
                messages = _until(time.monotonic() + duration, messages)
            send_all(messages, sink, advance, tally)
        except BrokenPipeError:
            if bootstrap_servers is not None or (output is not None and output != STDOUT):
                raise
            # The reader went away (`... | head`): stop quietly, as command-line tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return tally


def _until(deadline: float, messages: Iterator[Message]) -> Iterator[Message]:
    return itertools.takewhile(lambda _message: time.monotonic() < deadline, messages)


def describe(tally: Tally, destination: str) -> str:
    parts = [f"{tally.clean} events"]
    parts += [f"{tally.duplicates} duplicates"] if tally.duplicates else []
    parts += [f"{tally.stale} stale re-sends"] if tally.stale else []
    parts += [f"{tally.poison} poison messages"] if tally.poison else []
    return f"Wrote {tally.total} messages ({', '.join(parts)}) to {destination}."
