"""Surrogate ids cannot run out: every upsert that updates a child row still reserves an
AUTO_INCREMENT value, so child ids are 64-bit."""

from __future__ import annotations

import sqlalchemy as sa

from analytics.dal import apply
from analytics.events import Event
from analytics.schema import order_items, product_variants
from tests.samples import event_from, sample_dict

INT_MAX = 2**31 - 1
PRODUCT = "a104a795bd4aeab02891dd3c"
ORDER = "4d13472248e13ae354e3d0a9"


def product(second: int) -> Event:
    envelope = sample_dict("product.updated")
    envelope.update(entity_id=PRODUCT, timestamp=f"2025-01-15T10:00:{second:02d}Z")
    envelope.update(event_id=f"product-{second}")
    envelope["data"]["id"] = PRODUCT
    variant = next(iter(envelope["data"]["variants"].values()))
    envelope["data"]["variants"] = {f"size-{second}": variant}  # a new row each time
    return event_from(envelope)


def order(second: int) -> Event:
    envelope = sample_dict("order.created")
    envelope.update(entity_id=ORDER, timestamp=f"2025-01-15T10:00:{second:02d}Z")
    envelope.update(event_id=f"order-{second}")
    envelope["data"]["id"] = ORDER
    item = envelope["data"]["items"][0]
    envelope["data"]["items"] = [{**item, "item_id": f"item-{second}"}]
    return event_from(envelope)


def test_child_ids_go_past_the_32_bit_maximum(mysql_only: sa.Engine) -> None:
    with mysql_only.begin() as connection:
        for table in (product_variants, order_items):
            # Just below the 32-bit maximum, as after two billion updates.
            connection.exec_driver_sql(f"ALTER TABLE {table.name} AUTO_INCREMENT = {INT_MAX - 3}")
    for second in range(20):  # one by one: each update reserves new ids
        with mysql_only.begin() as connection:
            result = apply(connection, [product(second), order(second)])
        assert result.applied == [0, 1], result.rejected
    with mysql_only.connect() as connection:
        for table in (product_variants, order_items):
            largest = connection.execute(sa.select(sa.func.max(table.c.id))).scalar_one()
            assert largest > INT_MAX
