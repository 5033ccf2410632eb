"""Sinks: JSON lines that `analytics load` reads back, and Kafka in order per key."""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from analytics.broker import EmbeddedBroker
from analytics.load import read_messages
from producer_sim import Message, generate, inject_faults
from producer_sim.sinks import (
    JsonLinesSink,
    KafkaSink,
    KafkaSinkError,
    Pacer,
    Tally,
    read_jsonl,
    send_all,
    write_jsonl,
)


def faulty(count: int = 400) -> list[Message]:
    return list(inject_faults(generate(3, count), seed=3, duplicates=0.1, stale=0.1, poison=0.1))


def test_json_lines_round_trip_through_analytics_load(tmp_path: Path) -> None:
    messages = faulty()
    path = tmp_path / "events.jsonl"
    with path.open("wb") as stream:
        assert write_jsonl(messages, stream) == len(messages)
    assert len(path.read_bytes().splitlines()) == len(messages)
    assert [source.value for source in read_messages(path)] == [m.value for m in messages]
    with path.open("rb") as stream:
        assert list(read_jsonl(stream)) == [m.value for m in messages]


def test_send_all_counts_every_origin() -> None:
    messages = faulty()
    seen: list[Message] = []
    tally = send_all(messages, JsonLinesSink(io.BytesIO()), seen.append)
    assert seen == messages
    assert tally.clean == 400
    assert tally.total == len(messages)
    assert tally.duplicates == sum(1 for m in messages if m.resend == "duplicate")
    assert tally.stale == sum(1 for m in messages if m.resend == "stale")
    assert tally.poison == sum(1 for m in messages if m.poison is not None)
    assert Tally().total == 0


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_pacer_holds_the_rate() -> None:
    time = FakeTime()
    pacer = Pacer(50, time.clock, time.sleep)
    for _ in range(101):
        pacer.wait()
    assert time.now == pytest.approx(102.0)
    unlimited = Pacer(0, time.clock, time.sleep)
    for _ in range(1000):
        unlimited.wait()
    assert time.now == pytest.approx(102.0)
    with pytest.raises(ValueError, match="negative"):
        Pacer(-1)


class FakeProducer:
    """Takes messages like confluent_kafka.Producer; the queue is full every other call."""

    def __init__(self, config: dict[str, Any], error: str | None = None) -> None:
        self.config = config
        self.error = error
        self.produced: list[tuple[str, bytes, bytes]] = []
        self.callbacks: list[Any] = []
        self.full = False

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any) -> None:
        self.full = not self.full
        if self.full:
            raise BufferError("queue full")
        self.produced.append((topic, key, value))
        self.callbacks.append(on_delivery)

    def poll(self, _timeout: float) -> int:
        for callback in self.callbacks:
            callback(self.error, None)
        served, self.callbacks = len(self.callbacks), []
        return served

    def flush(self, timeout: float) -> int:
        self.poll(timeout)
        return 0


def test_the_kafka_sink_configures_an_ordered_idempotent_producer() -> None:
    producers: list[FakeProducer] = []

    def factory(config: dict[str, Any]) -> FakeProducer:
        producers.append(FakeProducer(config))
        return producers[-1]

    messages = faulty(50)
    with KafkaSink("host:9092", producer_factory=factory) as sink:
        for message in messages:
            sink.write(message)
    (producer,) = producers
    assert producer.config["bootstrap.servers"] == "host:9092"
    assert producer.config["acks"] == "all"
    assert producer.config["enable.idempotence"] is True
    assert producer.produced == [(m.topic, m.key, m.value) for m in messages]
    assert sink.delivered == len(messages)


def test_the_kafka_sink_raises_on_a_failed_delivery() -> None:
    sink = KafkaSink("host:9092", producer_factory=lambda c: FakeProducer(c, error="boom"))
    with pytest.raises(KafkaSinkError, match="boom"):
        send_all(faulty(5), sink)


def test_the_kafka_sink_keeps_each_keys_order_on_a_real_broker() -> None:
    messages = faulty(300)
    with EmbeddedBroker(partitions=3) as broker:
        with KafkaSink(broker.bootstrap_servers) as sink:
            for message in messages:
                sink.write(message)
        assert sink.delivered == len(messages)
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap_servers,
                "group.id": "producer-sim-test",
                "enable.auto.commit": False,
            }
        )
        partitions = [
            TopicPartition(topic, partition, 0)
            for topic in ("user", "supplier", "product", "post", "order")
            for partition in range(3)
        ]
        consumer.assign(partitions)
        per_key_received: dict[bytes | None, list[bytes | None]] = defaultdict(list)
        received = 0
        while received < len(messages):
            batch = consumer.consume(len(messages) - received, timeout=10)
            assert batch, "the broker stopped delivering"
            for record in batch:
                assert record.error() is None
                per_key_received[record.key()].append(record.value())
            received += len(batch)
        consumer.close()
    per_key_sent: dict[bytes | None, list[bytes | None]] = defaultdict(list)
    for message in messages:
        per_key_sent[message.key].append(message.value)
    assert per_key_received == per_key_sent
