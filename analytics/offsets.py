"""How far a consumer group has got: end offsets against committed offsets, per partition."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

Partition = tuple[str, int]
TIMEOUT_SECONDS = 10


def _client(bootstrap_servers: str, group_id: str) -> Consumer:
    # Never subscribes, so it never joins the group it reads offsets for.
    return Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": group_id, "enable.auto.commit": False}
    )


def _partitions(client: Consumer, topics: Sequence[str]) -> list[TopicPartition]:
    found: list[TopicPartition] = []
    for topic in topics:
        metadata = client.list_topics(topic, timeout=TIMEOUT_SECONDS).topics[topic]
        found += [TopicPartition(topic, partition) for partition in sorted(metadata.partitions)]
    return found


def watermarks(bootstrap_servers: str, topics: Sequence[str]) -> dict[Partition, tuple[int, int]]:
    """(first retained offset, end offset) of every partition of `topics`."""
    client = _client(bootstrap_servers, "offsets-reader")
    try:
        return {
            (tp.topic, tp.partition): client.get_watermark_offsets(tp, timeout=TIMEOUT_SECONDS)
            for tp in _partitions(client, topics)
        }
    finally:
        client.close()


def end_offsets(bootstrap_servers: str, topics: Sequence[str]) -> dict[Partition, int]:
    return {key: end for key, (_start, end) in watermarks(bootstrap_servers, topics).items()}


def committed_offsets(
    bootstrap_servers: str, group_id: str, topics: Sequence[str]
) -> dict[Partition, int]:
    """The group's next offset to read per partition (0 where it never committed)."""
    client = _client(bootstrap_servers, group_id)
    try:
        committed = client.committed(_partitions(client, topics), timeout=TIMEOUT_SECONDS)
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in committed}
    finally:
        client.close()


class GroupActive(Exception):
    """Other consumers are members of the group: only they may move its offsets."""


def move_group(
    bootstrap_servers: str,
    group_id: str,
    positions: dict[Partition, int],
    timeout_seconds: float = 60,
) -> None:
    """Commit `positions` as the group's next offsets to read, as a member of the group
    that was assigned every one of those partitions, so that no running consumer of the
    group can commit over them; raise GroupActive when other members share them.

    (A commit from outside the group would do where the broker accepts it for a group
    without members; the embedded broker refuses it for any group that ever had one.)
    Joining makes a running group rebalance once more; a member that was killed is waited
    for until its session times out."""
    assigned: list[TopicPartition] = []
    client = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
            "client.id": "social-analytics-offsets",
            # The shortest session brokers allow by default: should the leave get lost (the
            # embedded broker ignores it), the next consumer waits seconds, not minutes.
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 2000,
            "max.poll.interval.ms": 6000,
        }
    )
    try:
        topics = sorted({topic for topic, _partition in positions})
        client.subscribe(topics, on_assign=lambda _c, partitions: assigned.extend(partitions))
        deadline = time.monotonic() + timeout_seconds
        while not assigned:
            if time.monotonic() > deadline:
                raise GroupActive(
                    f"consumer group {group_id!r} assigned nothing in {timeout_seconds:.0f}s"
                )
            client.poll(0.2)
        owned = {(tp.topic, tp.partition) for tp in assigned}
        if owned != set(positions):
            raise GroupActive(
                f"consumer group {group_id!r} has active members: they hold "
                f"{len(set(positions) - owned)} of its {len(positions)} partitions"
            )
        wanted = [TopicPartition(t, p, o) for (t, p), o in sorted(positions.items())]
        try:
            client.commit(offsets=wanted, asynchronous=False)
        except KafkaException as exc:
            # A member that joined meanwhile made the group rebalance.
            raise GroupActive(f"consumer group {group_id!r}: {exc.args[0].str()}") from exc
    finally:
        client.close()


def offsets_at(
    bootstrap_servers: str, topics: Sequence[str], moment: datetime
) -> dict[Partition, int]:
    """Per partition, the first retained offset whose message timestamp is at or after
    `moment` (the end offset when there is none).

    Found by bisection over the messages' timestamps, read one message per step, so that it
    works on every broker (the embedded one does not answer timestamp look-ups); it assumes
    timestamps that do not decrease within a partition, as Kafka's own time index does."""
    wanted = int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)
    marks = watermarks(bootstrap_servers, topics)
    client = _client(bootstrap_servers, "offsets-reader")
    try:
        return {
            partition: _first_at(client, partition, low, end, wanted)
            for partition, (low, end) in marks.items()
        }
    finally:
        client.close()


def _first_at(client: Consumer, partition: Partition, low: int, end: int, wanted: int) -> int:
    """The smallest offset in [low, end] whose message is stamped `wanted` or later."""
    while low < end:
        middle = (low + end) // 2
        offset, stamp = _message_at(client, partition, middle)
        if offset >= end or stamp >= wanted:
            end = middle
        else:
            low = offset + 1
    return low


def _message_at(client: Consumer, partition: Partition, offset: int) -> tuple[int, int]:
    """Offset and timestamp (ms) of the first message at or after `offset`."""
    topic, number = partition
    client.assign([TopicPartition(topic, number, offset)])
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        message = client.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            raise KafkaException(error)
        if error is None:
            found = message.offset()
            assert found is not None
            return found, message.timestamp()[1]
    raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"no message at {topic}[{number}]"))
