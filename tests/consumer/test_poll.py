"""Batch assembly across a rebalance, with a scripted stand-in for the Kafka client (the
broker's own rebalances are not deterministic enough to land inside one poll)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from analytics.consumer import Service
from analytics.deadletters import Source
from analytics.settings import ConsumerSettings


class Message:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "user"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"{}"


class ScriptedConsumer:
    """Each consume() runs the next step: an optional callback, then returns messages."""

    def __init__(self) -> None:
        self.steps: list[tuple[Callable[[], None] | None, list[Message]]] = []

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        if not self.steps:
            return []
        callback, messages = self.steps.pop(0)
        if callback is not None:
            callback()
        return messages[:num_messages]


def service(tmp_path: Path) -> tuple[Service, ScriptedConsumer]:
    scripted = ScriptedConsumer()

    def factory(_config: dict[str, Any]) -> Any:
        return scripted

    settings = ConsumerSettings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}", batch_size=10, batch_max_seconds=1
    )
    return Service(settings, consumer_factory=factory), scripted


def test_messages_fetched_before_a_revocation_are_not_kept_twice(tmp_path: Path) -> None:
    svc, scripted = service(tmp_path)
    partition = [TopicPartition("user", 0)]
    svc._on_assign(scripted, partition)  # type: ignore[arg-type]

    def revoke_and_reassign() -> None:
        svc._on_revoke(scripted, partition)  # type: ignore[arg-type]
        svc._on_assign(scripted, partition)  # type: ignore[arg-type]

    first = [Message(0, offset) for offset in range(3)]
    # After the reassignment the client fetches again from the committed offset (0).
    scripted.steps = [(None, first), (revoke_and_reassign, [Message(0, o) for o in range(4)])]

    batch = svc._poll_batch(svc.batch_limit.size)

    assert [(m.partition, m.offset) for m in batch] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    svc.engine.dispose()


def test_messages_of_a_partition_lost_for_good_are_dropped(tmp_path: Path) -> None:
    svc, scripted = service(tmp_path)
    ours, theirs = TopicPartition("user", 0), TopicPartition("user", 1)
    svc._on_assign(scripted, [ours, theirs])  # type: ignore[arg-type]

    def revoke_theirs() -> None:
        svc._on_revoke(scripted, [theirs])  # type: ignore[arg-type]

    scripted.steps = [(None, [Message(0, 0), Message(1, 0)]), (revoke_theirs, [Message(0, 1)])]

    batch = svc._poll_batch(svc.batch_limit.size)

    assert [(m.partition, m.offset) for m in batch] == [(0, 0), (0, 1)]
    svc.engine.dispose()


def gauge(svc: Service, name: str) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["topic"], sample.labels["partition"]): sample.value
        for family in svc.metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    }


def test_a_revoked_partition_s_lag_and_offset_are_left_to_its_new_owner(tmp_path: Path) -> None:
    svc, scripted = service(tmp_path)
    ours, theirs = TopicPartition("user", 0), TopicPartition("user", 1)
    svc._on_assign(scripted, [ours, theirs])  # type: ignore[arg-type]
    lags = {"0": {"consumer_lag": 5}, "1": {"consumer_lag": 7}}
    svc._on_statistics(json.dumps({"topics": {"user": {"partitions": lags}}}))
    svc.metrics.committed_offset.labels("user", "0").set(10)
    svc.metrics.committed_offset.labels("user", "1").set(20)

    svc._on_revoke(scripted, [theirs])  # type: ignore[arg-type]

    assert gauge(svc, "analytics_consumer_lag") == {("user", "0"): 5}
    assert gauge(svc, "analytics_last_committed_offset") == {("user", "0"): 10}
    svc.engine.dispose()


class CommitRecorder(ScriptedConsumer):
    """Refuses the first `refuse` commits as a rebalancing group does; records the rest."""

    def __init__(self, refuse: int) -> None:
        super().__init__()
        self.refuse = refuse
        self.commits: list[list[tuple[str, int, int]]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.refuse:
            self.refuse -= 1
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


P0, P1 = TopicPartition("user", 0), TopicPartition("user", 1)


def refused_then(
    tmp_path: Path, rebalance: Callable[[Service, CommitRecorder], None], later: int = 0
) -> list[list[tuple[str, int, int]]]:
    """The commits made after the offsets of a written batch (user[0] up to 4, user[1] up
    to 9) were refused, `later` more batches of user[0] were committed, and `rebalance` ran."""
    recorder = CommitRecorder(refuse=1)
    settings = ConsumerSettings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    svc = Service(settings, consumer_factory=lambda _config: recorder)  # type: ignore[arg-type,return-value]
    svc.engine.dispose()
    svc._on_assign(recorder, [P0, P1])  # type: ignore[arg-type]
    assert not svc._commit_offsets([source(0, 4), source(1, 9)])
    for n in range(later):
        assert svc._commit_offsets([source(0, 10 + n)])
    recorder.commits.clear()
    rebalance(svc, recorder)
    return recorder.commits


def source(partition: int, offset: int) -> Source:
    return Source("user", partition, offset, b"k", b"{}")


def test_refused_offsets_are_committed_when_their_partition_comes_back(tmp_path: Path) -> None:
    def user_0_comes_back(svc: Service, kafka: CommitRecorder) -> None:
        svc._on_revoke(kafka, [P0, P1])  # type: ignore[arg-type]
        svc._on_assign(kafka, [P0])  # type: ignore[arg-type]
        svc._on_revoke(kafka, [P0])  # type: ignore[arg-type]
        svc._on_assign(kafka, [P0, P1])  # type: ignore[arg-type]

    # user[1] went to another consumer: its offsets were not ours to commit, and by the
    # time it came back they could be behind what its other owner committed.
    assert refused_then(tmp_path, user_0_comes_back) == [[("user", 0, 5)]]


def test_refused_offsets_of_lost_partitions_are_not_committed(tmp_path: Path) -> None:
    def lost_then_back(svc: Service, kafka: CommitRecorder) -> None:
        svc._on_lost(kafka, [P0, P1])  # type: ignore[arg-type]
        svc._on_assign(kafka, [P0, P1])  # type: ignore[arg-type]

    assert refused_then(tmp_path, lost_then_back) == []


def test_a_later_commit_supersedes_a_refused_one(tmp_path: Path) -> None:
    def back(svc: Service, kafka: CommitRecorder) -> None:
        svc._on_revoke(kafka, [P0, P1])  # type: ignore[arg-type]
        svc._on_assign(kafka, [P0, P1])  # type: ignore[arg-type]

    assert refused_then(tmp_path, back, later=1) == [[("user", 1, 10)]]
