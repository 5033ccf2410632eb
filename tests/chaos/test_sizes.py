"""Oversized statements: batches whose statements would outgrow the server's
max_allowed_packet if they were sent whole. Products with hundreds of variants under
long keys, then new versions that drop all of them, and a dozen products of nearly a
megabyte each, through the broker and one consumer at the default batch size. The
consumer must neither stall nor retry, and the tables must equal one clean pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from analytics.broker import EmbeddedBroker
from tests.chaos.common import FaultyStream, Report, assert_retained, by_scale, final_verdict
from tests.consumer.harness import ConsumerProcess, Record, produce, wait_caught_up
from tests.samples import sample_dict

PRODUCTS = by_scale(short=250, full=1000)
VARIANTS = 240
LARGE_PRODUCTS = 12
LARGE_BYTES = 900_000  # the embedded broker's producer takes messages up to 1 MB
PARTITIONS = 24
SETTINGS: dict[str, str | int | float] = {"batch_size": 5000, "batch_max_seconds": 2}


def product(n: int, generation: int, variants: int = VARIANTS, note: str = "") -> Record:
    key = f"{n:024x}"
    envelope = sample_dict("product.updated")
    envelope.update(
        entity_id=key,
        event_id=f"{generation:04d}-{n:031d}",
        timestamp=f"2025-01-15T10:00:0{generation}Z",
    )
    envelope["data"]["id"] = key
    # Small variants under long keys: about 37 KB a message, as in the field.
    variant: dict[str, object] = {"variant_id": "v", "variant_name": "One size", "price_cents": 1}
    if note:
        variant["attributes"] = [{"name": "note", "value": note}]
    envelope["data"]["variants"] = {
        f"{v:03d}-generation-{generation}-of-a-forty-character-key"[:40]: variant
        for v in range(variants)
    }
    return Record("product", key.encode(), json.dumps(envelope).encode())


def stream() -> list[Record]:
    records = [product(n, generation) for generation in (1, 2) for n in range(PRODUCTS)]
    records += [
        product(PRODUCTS + n, 1, variants=1, note="n" * LARGE_BYTES) for n in range(LARGE_PRODUCTS)
    ]
    return records


def test_batches_larger_than_any_statement_apply_without_a_stall(
    mysql_only: sa.Engine, mysql_url: str, tmp_path: Path
) -> None:
    # More partitions than the other scenarios: the stream is large, and the embedded
    # broker keeps about 5 MB per partition.
    with EmbeddedBroker(partitions=PARTITIONS, rebalance_delay_ms=0) as broker:
        run(broker.bootstrap_servers, mysql_only, mysql_url, tmp_path)


def run(bootstrap: str, mysql_only: sa.Engine, mysql_url: str, tmp_path: Path) -> None:
    report = Report("sizes")
    records = stream()
    produce(bootstrap, records)
    assert_retained(bootstrap)
    with mysql_only.connect() as connection:
        packet = int(connection.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())

    consumer = ConsumerProcess(bootstrap, mysql_url, tmp_path / "consumer.log", **SETTINGS)
    try:
        wait_caught_up(bootstrap, [consumer], timeout=by_scale(short=180, full=900))
    finally:
        assert consumer.stop() == 0
    retries = consumer.count("batch.retry")
    batches = [line for line in consumer.log_events() if line["event"] == "batch.committed"]

    clean = FaultyStream(records, len(records), 0, 0, 0, frozenset())
    verdict = final_verdict(bootstrap, mysql_only, clean)
    report.add(
        runs=1,
        events=len(records),
        injected_duplicates=0,
        injected_stale=0,
        products=PRODUCTS,
        variants_per_product=VARIANTS,
        message_bytes=max(len(record.value or b"") for record in records),
        broker_bytes=sum(len(record.value or b"") for record in records),
        max_allowed_packet=packet,
        batches=len(batches),
        largest_batch=max((line["messages"] for line in batches), default=0),
        retries=retries,
        **verdict.figures(),
    )
    report.write(mysql_only)
    verdict.check()
    assert retries == 0, "a statement was refused and retried"
