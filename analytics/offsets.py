"""How far a consumer group has got: end offsets against committed offsets, per partition."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import Consumer, TopicPartition

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
