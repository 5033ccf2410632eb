"""`analytics broker`: a real Kafka protocol endpoint from one command."""

from __future__ import annotations

import signal
import subprocess
import sys

from confluent_kafka import Consumer, Producer

from analytics.events import TOPICS


def test_the_broker_command_serves_the_five_topics_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "analytics", "broker", "--partitions", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        bootstrap = process.stdout.readline().strip()
        assert bootstrap.startswith("127.0.0.1:")
        producer = Producer({"bootstrap.servers": bootstrap})
        for topic in TOPICS:
            producer.produce(topic, key=b"k", value=topic.encode())
        assert producer.flush(10) == 0
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "probe", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe(list(TOPICS))
        received: set[bytes] = set()
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.value():
                received.add(message.value() or b"")
            if len(received) == len(TOPICS):
                break
        consumer.close()
        assert received == {topic.encode() for topic in TOPICS}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
