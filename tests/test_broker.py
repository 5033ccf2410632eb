"""`analytics broker`: a real Kafka protocol endpoint from one command."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest
from confluent_kafka import Consumer, Producer

from analytics.events import TOPICS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("fixed_port", [False, True], ids=["any-port", "--port"])
def test_the_broker_command_serves_the_five_topics_until_terminated(fixed_port: bool) -> None:
    port = free_port() if fixed_port else 0
    process = subprocess.Popen(
        [sys.executable, "-m", "analytics", "broker", "--partitions", "2", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        prefix = "export ANALYTICS_BOOTSTRAP_SERVERS=127.0.0.1:"
        assert line.startswith(prefix)
        bootstrap = line.removeprefix("export ANALYTICS_BOOTSTRAP_SERVERS=")
        if fixed_port:
            assert bootstrap == f"127.0.0.1:{port}"
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
