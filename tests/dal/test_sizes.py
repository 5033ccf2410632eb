"""Statements never outgrow the server: every one is bounded by rows and by bytes.

The server refuses a packet over its max_allowed_packet and drops the connection, which
the service would take for an outage and retry forever. Here the limit the DAL reads on
connect is made small, so that ordinary batches need many statements, and every
statement sent is measured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.dal import apply, statements
from analytics.errors import Reason
from analytics.events import Event
from analytics.schema import product_variants, products, tombstones
from tests.samples import event_from, sample_dict

LIMIT = 256 * 1024
PRODUCTS = 150
VARIANTS = 60


def key(n: int) -> str:
    return f"{n:024x}"


def variant_key(n: int, generation: str) -> str:
    return f"{n:03d}-{generation}-variant-key-of-forty-characters"[:40]


def product(n: int, stamp: str, generation: str, variants: int = VARIANTS) -> Event:
    envelope = sample_dict("product.created")
    envelope.update(entity_id=key(n), timestamp=stamp, event_id=f"{generation}-{n}")
    envelope["data"]["id"] = key(n)
    variant = next(iter(envelope["data"]["variants"].values()))
    envelope["data"]["variants"] = {variant_key(v, generation): variant for v in range(variants)}
    return event_from(envelope)


def deleted(n: int, stamp: str) -> Event:
    envelope = sample_dict("product.deleted")
    envelope.update(entity_id=key(n), timestamp=stamp, event_id=f"delete-{n}")
    envelope["data"] = {"product_id": key(n)}
    return event_from(envelope)


def statement_size(statement: str, parameters: Any) -> int:
    """Bytes the server receives: the SQL and, quoted, each parameter (worst case)."""
    size = len(statement.encode())
    rows = parameters if isinstance(parameters, list) else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else (row or ())
        for value in values:
            if isinstance(value, str | bytes):
                size += 2 * len(value.encode() if isinstance(value, str) else value) + 3
            else:
                size += 32
    return size


@pytest.fixture
def small_packets(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    monkeypatch.setattr(statements, "packet_limit", lambda _connection: LIMIT)
    sizes: list[int] = []

    def measure(*args: Any) -> None:
        _connection, _cursor, statement, parameters, _context, executemany = args
        if executemany:  # one statement per parameter set
            sizes.extend(statement_size(statement, row) for row in parameters)
        else:
            sizes.append(statement_size(statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", measure)
    yield sizes
    sa.event.remove(engine, "before_cursor_execute", measure)


def run(engine: sa.Engine, events: Sequence[Event]) -> None:
    with engine.begin() as connection:
        result = apply(connection, events)
    assert not result.rejected, result.rejected


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_statement_of_large_batches_stays_within_the_packet_limit(
    engine: sa.Engine, small_packets: list[int]
) -> None:
    # Every product with many long variant keys, then all of them with other keys (the
    # old ones must go), then all deleted: each batch is several times the limit.
    run(engine, [product(n, "2025-01-15T10:00:00Z", "first") for n in range(PRODUCTS)])
    assert count(engine, product_variants) == PRODUCTS * VARIANTS
    run(engine, [product(n, "2025-01-15T10:00:01Z", "second") for n in range(PRODUCTS)])
    with engine.connect() as connection:
        keys = set(connection.execute(sa.select(product_variants.c.variant_key)).scalars())
    assert keys == {variant_key(v, "second") for v in range(VARIANTS)}
    assert count(engine, product_variants) == PRODUCTS * VARIANTS
    run(engine, [deleted(n, "2025-01-15T10:00:02Z") for n in range(PRODUCTS)])
    assert (count(engine, products), count(engine, tombstones)) == (0, PRODUCTS)

    assert len(small_packets) > 20
    assert max(small_packets) <= LIMIT


def test_a_row_larger_than_any_statement_is_dead_lettered(
    engine: sa.Engine, small_packets: list[int]
) -> None:
    envelope = sample_dict("product.created")
    envelope["data"]["variants"]["xl-black"]["attributes"] = [{"note": "x" * 300_000}]
    huge = event_from(envelope)
    with engine.begin() as connection:
        result = apply(connection, [product(1, "2025-01-15T10:00:00Z", "ok"), huge])
    assert result.applied == [0]
    (rejection,) = result.rejected
    assert (rejection.index, rejection.error.reason) == (1, Reason.TOO_LARGE)
    assert "max_allowed_packet" in rejection.error.detail
    assert count(engine, products) == 1
    assert max(small_packets) <= LIMIT


def test_an_event_too_large_for_the_real_server_is_dead_lettered(mysql_only: sa.Engine) -> None:
    """No stand-in limit: the server's own max_allowed_packet (16 MiB on MariaDB)."""
    with mysql_only.connect() as connection:
        limit = int(connection.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())
    envelope = sample_dict("product.created")
    notes = ["n" * 1000] * (limit // 1000 + 1000)
    envelope["data"]["variants"]["xl-black"]["attributes"] = notes
    huge = event_from(envelope)
    assert len(json.dumps(notes)) > limit
    with mysql_only.begin() as connection:
        result = apply(connection, [huge, product(1, "2025-01-15T10:00:00Z", "ok")])
    assert result.applied == [1]
    assert [r.error.reason for r in result.rejected] == [Reason.TOO_LARGE]
    assert count(mysql_only, products) == 1
