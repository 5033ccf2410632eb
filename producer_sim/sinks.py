"""Where simulated messages go: a JSON-lines file (or stream) or a Kafka cluster.

A JSON-lines file holds each message's raw value (the envelope bytes) on one line, exactly
what `analytics load file.jsonl` reads; topic and key are implied by the envelope. Values
never contain a line break (poison included), so lines and messages correspond one to one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO, Protocol, Self

from confluent_kafka import KafkaError, Producer

from producer_sim.message import Message, Resend


class Sink(Protocol):
    def write(self, message: Message) -> None: ...

    def close(self) -> None: ...


class Pacer:
    """Holds a stream to at most `rate` messages per second (0: as fast as possible)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._sent = 0

    def wait(self) -> None:
        """Block until the next message may go."""
        if self.rate <= 0:
            return
        now = self._clock()
        if self._start is None:
            self._start = now
        delay = self._start + self._sent / self.rate - now
        if delay > 0:
            self._sleep(delay)
        self._sent += 1


class JsonLinesSink:
    """Writes each message's value as one line of `stream` (which the caller closes)."""

    def __init__(self, stream: BinaryIO, rate: float = 0.0) -> None:
        self._stream = stream
        self._pacer = Pacer(rate)

    def write(self, message: Message) -> None:
        self._pacer.wait()
        self._stream.write(message.value + b"\n")

    def close(self) -> None:
        self._stream.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def write_jsonl(messages: Iterable[Message], stream: BinaryIO) -> int:
    """Write `messages` as JSON lines; return how many were written."""
    count = 0
    with JsonLinesSink(stream) as sink:
        for message in messages:
            sink.write(message)
            count += 1
    return count


def read_jsonl(stream: Iterable[bytes]) -> Iterator[bytes]:
    """The message values of a JSON-lines stream, as `analytics load` reads them."""
    for line in stream:
        if line.strip():
            yield line.rstrip(b"\r\n")


class KafkaSinkError(Exception):
    """A message could not be delivered (after librdkafka's own retries)."""


class KafkaSink:
    """Produces messages with their key to their topic, in order per key.

    The idempotent producer (acks=all) keeps each partition's order through retries, and
    the key picks the partition, so an entity's events stay in the order they were written.
    `flush()` (also on close) waits for every delivery and raises on the first failure.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        rate: float = 0.0,
        config: Mapping[str, Any] | None = None,
        producer_factory: Callable[[dict[str, Any]], Any] = Producer,
        pacer: Pacer | None = None,
    ) -> None:
        settings: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            **(config or {}),
        }
        self._producer = producer_factory(settings)
        self._pacer = pacer or Pacer(rate)
        self._error: str | None = None
        self.delivered = 0

    def _on_delivery(self, error: KafkaError | None, _message: Any) -> None:
        if error is None:
            self.delivered += 1
        elif self._error is None:
            self._error = str(error)

    def _raise_on_error(self) -> None:
        if self._error is not None:
            raise KafkaSinkError(f"delivery failed: {self._error}")

    def write(self, message: Message) -> None:
        self._pacer.wait()
        while True:
            try:
                self._producer.produce(
                    message.topic,
                    key=message.key,
                    value=message.value,
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                self._producer.poll(0.1)  # the local queue is full: let deliveries drain it
        self._producer.poll(0)
        self._raise_on_error()

    def flush(self, timeout: float = 60.0) -> None:
        remaining: int = self._producer.flush(timeout)
        self._raise_on_error()
        if remaining:
            raise KafkaSinkError(f"{remaining} messages still undelivered after {timeout}s")

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._producer.flush(5.0)


@dataclass
class Tally:
    """How many messages of each origin went out."""

    clean: int = 0
    duplicates: int = 0
    stale: int = 0
    poison: int = 0

    @property
    def total(self) -> int:
        return self.clean + self.duplicates + self.stale + self.poison

    def count(self, message: Message) -> None:
        if message.poison is not None:
            self.poison += 1
        elif message.resend is Resend.DUPLICATE:
            self.duplicates += 1
        elif message.resend is Resend.STALE:
            self.stale += 1
        else:
            self.clean += 1


def send_all(
    messages: Iterable[Message],
    sink: Sink,
    on_message: Callable[[Message], None] = lambda _message: None,
    tally: Tally | None = None,
) -> Tally:
    """Write every message to `sink` (which the caller closes), calling `on_message` after
    each one; return the tally (`tally`, when given, is counted on as messages go out)."""
    tally = Tally() if tally is None else tally
    for message in messages:
        sink.write(message)
        tally.count(message)
        on_message(message)
    return tally
