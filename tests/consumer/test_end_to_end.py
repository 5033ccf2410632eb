"""The service end to end: embedded broker → `analytics consume` process → MariaDB."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from analytics.events import TOPICS
from analytics.schema import dead_letters, metadata
from tests.consumer.conftest import PARTITIONS
from tests.consumer.harness import (
    ConsumerProcess,
    Record,
    committed_offsets,
    end_offsets,
    produce,
    wait_caught_up,
)
from tests.consumer.proxy import free_port
from tests.leaks import SAMPLE_SECRETS, SECRET_FIELDS, corpus, found_in_tables, found_in_text
from tests.samples import all_sample_types, sample_bytes, sample_dict


def sample_records() -> list[Record]:
    """Every sample, in the order the backend emitted them, keyed by entity id."""
    types = sorted(all_sample_types(), key=lambda t: sample_dict(t)["timestamp"])
    return [
        Record(t.split(".")[0], sample_dict(t)["entity_id"].encode(), sample_bytes(t))
        for t in types
    ]


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in metadata.sorted_tables
        }


def letters(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(dead_letters).order_by(dead_letters.c.id)).mappings()
        return [dict(row) for row in rows]


def test_every_sample_through_the_broker(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    produce(broker.bootstrap_servers, sample_records())
    port = free_port()
    consumer = ConsumerProcess(
        broker.bootstrap_servers,
        mysql_url,
        tmp_path / "consumer.log",
        metrics_port=port,
        metrics_host="127.0.0.1",
    )
    try:
        wait_caught_up(broker.bootstrap_servers, [consumer])
        for _ in range(50):  # lag comes with librdkafka's statistics, once a second
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                metrics = reply.read().decode()
            lags = re.findall(r"^analytics_consumer_lag\{.*\} (\S+)$", metrics, re.MULTILINE)
            if len(lags) == len(TOPICS) * PARTITIONS and set(lags) == {"0.0"}:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"lag never reached 0 everywhere: {lags}")
    finally:
        assert consumer.stop() == 0
    for line in [
        'analytics_events_applied_total{event_type="user.created"} 1.0',
        'analytics_events_applied_total{event_type="product.deleted"} 1.0',
        'analytics_dead_letters_total{reason="unknown_entity"} 3.0',
    ]:
        assert line in metrics
    assert re.search(r"^analytics_batch_apply_seconds_count [1-9]", metrics, re.MULTILINE)
    assert re.search(
        r'^analytics_last_committed_offset\{partition="\d",topic="product"\} [1-9]',
        metrics,
        re.MULTILINE,
    )
    assert counts(mysql_only) == {
        "users": 1,
        "suppliers": 1,
        "products": 3,
        "product_variants": 4,
        "posts": 3,
        "orders": 1,
        "order_items": 2,
        "tombstones": 2,
        "dead_letters": 3,
    }
    # The three deletes/cancels of entities the samples never create.
    assert sorted((row["topic"], row["error_class"]) for row in letters(mysql_only)) == [
        ("order", "unknown_entity"),
        ("post", "unknown_entity"),
        ("user", "unknown_entity"),
    ]
    with mysql_only.connect() as connection:
        name = connection.execute(sa.text("SELECT display_name FROM users")).scalar_one()
    assert name == "Li Rossi"


def poison_records() -> dict[str, Record]:
    """Bad messages of every kind, by the reason they must be dead-lettered with."""
    wrong_type = sample_dict("user.created")
    wrong_type["data"]["version"] = "two"
    oversized = sample_dict("supplier.created")
    oversized["data"]["company_info"]["legal_name"] = "L" * 201
    unknown = sample_dict("user.created")
    unknown["event_type"] = "user.exploded"

    def record(topic: str, value: bytes) -> Record:
        return Record(topic, b"poison", value)

    return {
        "undecodable": record("user", b"\xff\xfe garbage \x00"),
        "not_an_object": record("post", b"[1, 2, 3]"),
        "invalid_envelope": record("order", b'{"event_type": "order.created"}'),
        "unknown_event_type": record("user", json.dumps(unknown).encode()),
        "invalid_payload": record("user", json.dumps(wrong_type).encode()),
        "wrong_topic": record("order", sample_bytes("user.updated")),
        "invalid_payload:oversized": record("supplier", json.dumps(oversized).encode()),
    }


def test_poison_is_dead_lettered_and_the_consumer_keeps_going(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    poison = poison_records()
    valid = sample_records()
    mixed = [record for pair in zip(valid, poison.values(), strict=False) for record in pair]
    mixed += valid[len(poison) :]
    produce(broker.bootstrap_servers, mixed)
    consumer = ConsumerProcess(broker.bootstrap_servers, mysql_url, tmp_path / "consumer.log")
    try:
        wait_caught_up(broker.bootstrap_servers, [consumer])
        more = [Record("user", b"late", sample_bytes("user.updated"))]
        produce(broker.bootstrap_servers, more)
        wait_caught_up(broker.bootstrap_servers, [consumer])
        assert consumer.alive()
    finally:
        assert consumer.stop() == 0
    expected = sorted((record.topic, reason.split(":")[0]) for reason, record in poison.items())
    stored = letters(mysql_only)
    poisoned = sorted((r["topic"], r["error_class"]) for r in stored if r["kafka_key"] == b"poison")
    assert poisoned == expected
    # Everything valid applied: the same rows as the samples alone give.
    assert counts(mysql_only)["products"] == 3
    assert counts(mysql_only)["dead_letters"] == len(poison) + 3


def test_secrets_reach_neither_the_database_nor_the_logs(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    oversized = sample_dict("supplier.updated")
    oversized["data"]["company_info"]["legal_name"] = "L" * 201
    leaks = corpus()
    records = [
        *sample_records(),
        Record("supplier", b"x", json.dumps(oversized).encode()),
        *(Record(leak.topic, leak.key or b"leak", leak.value) for leak in leaks),
    ]
    produce(broker.bootstrap_servers, records)
    consumer = ConsumerProcess(
        broker.bootstrap_servers,
        mysql_url,
        tmp_path / "consumer.log",
        log_level="DEBUG",
        secret_fields=",".join(SECRET_FIELDS),
    )
    try:
        wait_caught_up(broker.bootstrap_servers, [consumer])
    finally:
        assert consumer.stop() == 0
    assert "invalid_payload" in consumer.logs()
    # The three deletes and cancels of entities the samples never create, and the rest.
    assert counts(mysql_only)["dead_letters"] == 3 + 1 + len(leaks)
    secrets = [*SAMPLE_SECRETS, *(leak.secret for leak in leaks)]
    assert found_in_tables(mysql_only, secrets) == []
    assert found_in_text(consumer.log_path.read_bytes(), secrets) == []


def test_sigterm_finishes_and_commits_the_current_batch_and_exits_0(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    records = sample_records() * 150  # ~2,850 messages: replays, absorbed by idempotency
    produce(broker.bootstrap_servers, records)
    consumer = ConsumerProcess(
        broker.bootstrap_servers, mysql_url, tmp_path / "consumer.log", batch_size=50
    )
    while "batch.committed" not in consumer.logs():
        assert consumer.alive(), consumer.logs()
    consumer.send(signal.SIGTERM)
    assert consumer.wait() == 0
    events = consumer.log_events()
    assert events[-1]["event"] == "consumer.stopped"
    applied = sum(e["messages"] for e in events if e["event"] == "batch.committed")
    committed = sum(committed_offsets(broker.bootstrap_servers).values())
    assert 0 < committed == applied <= len(records)
    assert committed < sum(end_offsets(broker.bootstrap_servers).values())


def test_a_flood_of_dead_letters_stops_the_service_before_committing(
    broker: EmbeddedBroker, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    produce(broker.bootstrap_servers, [Record("user", b"k", b"not json")] * 40)
    consumer = ConsumerProcess(
        broker.bootstrap_servers,
        mysql_url,
        tmp_path / "consumer.log",
        dead_letter_window=20,
        dead_letter_max_ratio=0.5,
    )
    assert consumer.wait(60) == 3
    assert "consumer.dead_letter_flood" in consumer.logs()
    assert sum(committed_offsets(broker.bootstrap_servers).values()) == 0
    assert letters(mysql_only) == []
