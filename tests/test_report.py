"""`analytics report`: every figure checked against hand-computed values, on both engines."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from typer.testing import CliRunner, Result

from analytics.cli import app
from analytics.deadletters import Source
from analytics.load import load
from analytics.report import (
    DayRow,
    EntityCounts,
    JsonArrayLength,
    PostTypeRow,
    ProductRow,
    Report,
    StatusMix,
    StatusRow,
    SupplierRow,
    Window,
    build_report,
    money,
    read_report,
    render_tables,
    window,
)
from analytics.schema import order_items, orders, posts, products, users
from analytics.secrets import DEFAULT_SECRETS
from producer_sim import generate
from tests.conftest import empty_tables
from tests.samples import SAMPLES
from tests.terminal import WIDTHS, assert_readable, rendered

runner = CliRunner()

U1 = "0000000000000000000000u1"
U2 = "0000000000000000000000u2"
U3 = "0000000000000000000000u3"
PA = "00000000000000000000000a"
PB = "00000000000000000000000b"
PC = "00000000000000000000000c"
S1 = "0000000000000000000000s1"
S2 = "0000000000000000000000s2"
O1, O2, O3, O4, O5 = (f"00000000000000000000000{n}" for n in range(1, 6))
P1, P2, P3, P4, P5, P6 = (f"0000000000000000000000p{n}" for n in range(1, 7))

DAY_14 = datetime(2025, 1, 14)
DAY_15 = datetime(2025, 1, 15)
LAST_MICROSECOND = timedelta(days=1, microseconds=-1)


def _media(count: int) -> list[dict[str, Any]]:
    return [
        {"media_type": "image", "media_url": f"https://cdn.example.com/{n}.jpg"}
        for n in range(count)
    ]


def _user(user_id: str, created_at: datetime, deleted_at: datetime | None) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "email": f"{user_id}@example.com",
        "display_name": user_id,
        "deleted_at": deleted_at,
        "created_at": created_at,
        "updated_at": created_at,
    }


def _product(product_id: str, supplier_id: str, name: str) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "supplier_id": supplier_id,
        "name": name,
        "category": "home",
        "unit_type": "piece",
        "base_price_cents": 100,
        "status": "active",
        "created_at": DAY_14,
        "updated_at": DAY_14,
    }


def _order(order_id: str, status: str, created_at: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "order_number": f"ORD-{order_id[-1]}",
        "customer_user_id": U1,
        "status": status,
        "created_at": created_at,
        "updated_at": created_at,
    }


def _item(
    order_id: str,
    item_id: str,
    product: tuple[str, str],
    supplier: tuple[str, str],
    quantity: int,
    total_cents: int,
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "item_id": item_id,
        "product_id": product[0],
        "product_name": product[1],
        "supplier_id": supplier[0],
        "supplier_name": supplier[1],
        "quantity": quantity,
        "unit_price_cents": total_cents // quantity,
        "final_price_cents": total_cents,
        "total_cents": total_cents,
    }


def _post(
    post_id: str,
    post_type: str,
    created_at: datetime,
    *,
    media: list[dict[str, Any]] | None,
    engagement: float | None,
    likes: int | None,
    comments: int | None,
    published: bool,
    deleted: bool = False,
) -> dict[str, Any]:
    return {
        "post_id": post_id,
        "post_type": post_type,
        "author_user_id": U1,
        "media_json": media,
        "engagement_rate": engagement,
        "like_count": likes,
        "comment_count": comments,
        "published_at": created_at + timedelta(hours=1) if published else None,
        "deleted_at": created_at + timedelta(hours=2) if deleted else None,
        "created_at": created_at,
        "updated_at": created_at,
    }


def insert_known_data(engine: sa.Engine) -> None:
    """Five orders over two days (one cancelled, one without items) and six posts.

    Product and supplier names change between orders: the report shows the snapshot of the
    most recent order that counts, never the current `products.name`.
    """
    with engine.begin() as connection:
        connection.execute(
            users.insert(),
            [
                _user(U1, DAY_14 + timedelta(hours=8), None),
                _user(U2, DAY_15 + timedelta(hours=8), None),
                _user(U3, DAY_15 + timedelta(hours=9), DAY_15 + timedelta(hours=10)),
            ],
        )
        connection.execute(
            products.insert(),
            [
                _product(PA, S1, "Mug (current name)"),
                _product(PB, S2, "Scarf (current name)"),
                _product(PC, S1, "Cup (current name)"),
            ],
        )
        connection.execute(
            orders.insert(),
            [
                _order(O1, "delivered", DAY_14 + timedelta(hours=9)),
                _order(O5, "pending", DAY_14 + LAST_MICROSECOND),
                _order(O2, "pending", DAY_15 + timedelta(hours=10)),
                _order(O4, "shipped", DAY_15 + timedelta(hours=12)),
                _order(O3, "cancelled", DAY_15 + LAST_MICROSECOND),
            ],
        )
        connection.execute(
            order_items.insert(),
            [
                _item(O1, "item_1", (PA, "Mug"), (S1, "Acme"), 2, 2000),
                _item(O1, "item_2", (PB, "Scarf"), (S2, "Bolt"), 1, 3500),
                _item(O5, "item_1", (PC, "Cup"), (S1, "Acme"), 1, 500),
                _item(O2, "item_1", (PA, "Mug v2"), (S1, "Acme Ltd"), 1, 1000),
                _item(O2, "item_2", (PC, "Cup"), (S1, "Acme Ltd"), 3, 1500),
                _item(O3, "item_1", (PB, "Scarf (cancelled)"), (S2, "Bolt Renamed"), 5, 17500),
            ],
        )
        connection.execute(
            posts.insert(),
            [
                _post(
                    P1,
                    "image",
                    DAY_14,
                    media=_media(3),
                    engagement=0.5,
                    likes=10,
                    comments=3,
                    published=True,
                ),
                _post(
                    P2,
                    "image",
                    DAY_14,
                    media=None,
                    engagement=0.25,
                    likes=4,
                    comments=1,
                    published=False,
                ),
                _post(
                    P3,
                    "video",
                    DAY_15,
                    media=_media(1),
                    engagement=0.125,
                    likes=7,
                    comments=2,
                    published=True,
                ),
                _post(
                    P4,
                    "text",
                    DAY_15,
                    media=_media(3),
                    engagement=1.0,
                    likes=100,
                    comments=50,
                    published=True,
                    deleted=True,
                ),
                _post(
                    P5,
                    "image",
                    DAY_15,
                    media=[],
                    engagement=0.75,
                    likes=1,
                    comments=2,
                    published=False,
                ),
                _post(
                    P6,
                    "text",
                    DAY_15,
                    media=None,
                    engagement=None,
                    likes=None,
                    comments=None,
                    published=False,
                ),
            ],
        )


@pytest.fixture
def known(engine: sa.Engine) -> sa.Engine:
    insert_known_data(engine)
    return engine


# Day 14: O1 (5500) and O5 (500); day 15: O2 (2500), O4 (no items), O3 (cancelled, 17500).
ALL_TIME = Report(
    window=Window(days=None, since=None),
    orders_per_day=[
        DayRow(date(2025, 1, 14), orders=2, cancelled_orders=0, revenue_cents=6000),
        DayRow(date(2025, 1, 15), orders=3, cancelled_orders=1, revenue_cents=2500),
    ],
    top_products=[
        ProductRow(PB, "Scarf", orders=1, units=1, revenue_cents=3500),
        ProductRow(PA, "Mug v2", orders=2, units=3, revenue_cents=3000),
        ProductRow(PC, "Cup", orders=2, units=4, revenue_cents=2000),
    ],
    top_suppliers=[
        SupplierRow(S1, "Acme Ltd", orders=3, units=7, revenue_cents=5000),
        SupplierRow(S2, "Bolt", orders=1, units=1, revenue_cents=3500),
    ],
    order_status=StatusMix(
        orders=5,
        cancelled_orders=1,
        cancellation_rate=0.2,
        statuses=[
            StatusRow("pending", 2, 0.4),
            StatusRow("cancelled", 1, 0.2),
            StatusRow("delivered", 1, 0.2),
            StatusRow("shipped", 1, 0.2),
        ],
    ),
    posts_by_type=[
        # P1 (3 media), P2 (NULL media), P5 ([] media); (0.5 + 0.25 + 0.75) / 3 = 0.5
        PostTypeRow("image", 3, 1, 2, 0.5, 5.0, 2.0, 3, 1.0),
        # P6 only (NULL stats count as 0); P4 is soft-deleted
        PostTypeRow("text", 1, 0, 1, 0.0, 0.0, 0.0, 0, 0.0),
        PostTypeRow("video", 1, 1, 0, 0.125, 7.0, 2.0, 1, 1.0),
    ],
    entities=[EntityCounts("users", 2, 1, 3), EntityCounts("posts", 5, 1, 6)],
)

# --days 1 at 2025-01-15 18:00 UTC: O2, O4 and O3; P3, P4, P5, P6; U2 and U3.
LAST_DAY = Report(
    window=Window(days=1, since=DAY_15),
    orders_per_day=[DayRow(date(2025, 1, 15), 3, 1, 2500)],
    top_products=[ProductRow(PC, "Cup", 1, 3, 1500), ProductRow(PA, "Mug v2", 1, 1, 1000)],
    top_suppliers=[SupplierRow(S1, "Acme Ltd", 1, 4, 2500)],
    order_status=StatusMix(
        orders=3,
        cancelled_orders=1,
        cancellation_rate=1 / 3,
        statuses=[
            StatusRow("cancelled", 1, 1 / 3),
            StatusRow("pending", 1, 1 / 3),
            StatusRow("shipped", 1, 1 / 3),
        ],
    ),
    posts_by_type=[
        PostTypeRow("image", 1, 0, 1, 0.75, 1.0, 2.0, 0, 0.0),
        PostTypeRow("text", 1, 0, 1, 0.0, 0.0, 0.0, 0, 0.0),
        PostTypeRow("video", 1, 1, 0, 0.125, 7.0, 2.0, 1, 1.0),
    ],
    entities=[EntityCounts("users", 1, 1, 2), EntityCounts("posts", 3, 1, 4)],
)


def test_report_on_known_data(known: sa.Engine) -> None:
    with known.connect() as connection:
        assert build_report(connection) == ALL_TIME


def test_read_report_reads_one_snapshot(known: sa.Engine) -> None:
    assert read_report(known) == ALL_TIME


def test_last_day_only(known: sa.Engine) -> None:
    with known.connect() as connection:
        report = build_report(connection, days=1, now=datetime(2025, 1, 15, 18))
    assert report == LAST_DAY


def test_two_days_cover_everything(known: sa.Engine) -> None:
    with known.connect() as connection:
        report = build_report(connection, days=2, now=datetime(2025, 1, 15, 18))
    assert report.window == Window(2, DAY_14)
    assert report.orders_per_day == ALL_TIME.orders_per_day
    assert report.entities == ALL_TIME.entities


def test_top_limits_products_and_suppliers(known: sa.Engine) -> None:
    with known.connect() as connection:
        report = build_report(connection, top=1)
    assert report.top_products == ALL_TIME.top_products[:1]
    assert report.top_suppliers == ALL_TIME.top_suppliers[:1]
    with known.connect() as connection, pytest.raises(ValueError, match="top"):
        build_report(connection, top=0)


def test_empty_read_model(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        report = build_report(connection)
    assert report == Report(
        window=Window(None, None),
        orders_per_day=[],
        top_products=[],
        top_suppliers=[],
        order_status=StatusMix(0, 0, None, []),
        posts_by_type=[],
        entities=[EntityCounts("users", 0, 0, 0), EntityCounts("posts", 0, 0, 0)],
    )


def test_window_is_whole_utc_days() -> None:
    assert window(None) == Window(None, None)
    assert window(1, datetime(2025, 1, 15, 0, 0)) == Window(1, DAY_15)
    assert window(3, datetime(2025, 1, 15, 23, 59)) == Window(3, datetime(2025, 1, 13))
    plus_eight = timezone(timedelta(hours=8))
    assert window(1, datetime(2025, 1, 16, 1, tzinfo=plus_eight)) == Window(1, DAY_15)
    with pytest.raises(ValueError, match="days"):
        window(0)


def test_json_array_length_per_dialect() -> None:
    query = sa.select(JsonArrayLength(posts.c.media_json))
    assert "JSON_LENGTH(posts.media_json)" in str(query.compile(dialect=mysql.dialect()))
    assert "json_array_length(posts.media_json)" in str(query.compile(dialect=sqlite.dialect()))


def test_money_is_formatted_from_cents() -> None:
    assert money(0) == "$0.00"
    assert money(5) == "$0.05"
    assert money(123456789) == "$1,234,567.89"
    assert money(-2500) == "-$25.00"


# --- the command ------------------------------------------------------------------------------


def url_of(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def json_report(*args: str) -> dict[str, Any]:
    result = invoke("report", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


ALL_TIME_JSON = {
    "window": {"days": None, "since": None},
    "orders_per_day": [
        {"day": "2025-01-14", "orders": 2, "cancelled_orders": 0, "revenue_cents": 6000},
        {"day": "2025-01-15", "orders": 3, "cancelled_orders": 1, "revenue_cents": 2500},
    ],
    "top_products": [
        {"product_id": PB, "product_name": "Scarf", "orders": 1, "units": 1, "revenue_cents": 3500},
        {
            "product_id": PA,
            "product_name": "Mug v2",
            "orders": 2,
            "units": 3,
            "revenue_cents": 3000,
        },
    ],
    "top_suppliers": [
        {
            "supplier_id": S1,
            "supplier_name": "Acme Ltd",
            "orders": 3,
            "units": 7,
            "revenue_cents": 5000,
        },
        {
            "supplier_id": S2,
            "supplier_name": "Bolt",
            "orders": 1,
            "units": 1,
            "revenue_cents": 3500,
        },
    ],
    "order_status": {
        "orders": 5,
        "cancelled_orders": 1,
        "cancellation_rate": 0.2,
        "statuses": [
            {"status": "pending", "orders": 2, "share": 0.4},
            {"status": "cancelled", "orders": 1, "share": 0.2},
            {"status": "delivered", "orders": 1, "share": 0.2},
            {"status": "shipped", "orders": 1, "share": 0.2},
        ],
    },
    "posts_by_type": [
        {
            "post_type": "image",
            "posts": 3,
            "published": 1,
            "drafts": 2,
            "average_engagement_rate": 0.5,
            "average_likes": 5.0,
            "average_comments": 2.0,
            "media_items": 3,
            "average_media_items": 1.0,
        },
        {
            "post_type": "text",
            "posts": 1,
            "published": 0,
            "drafts": 1,
            "average_engagement_rate": 0.0,
            "average_likes": 0.0,
            "average_comments": 0.0,
            "media_items": 0,
            "average_media_items": 0.0,
        },
        {
            "post_type": "video",
            "posts": 1,
            "published": 1,
            "drafts": 0,
            "average_engagement_rate": 0.125,
            "average_likes": 7.0,
            "average_comments": 2.0,
            "media_items": 1,
            "average_media_items": 1.0,
        },
    ],
    "entities": [
        {"entity": "users", "active": 2, "deleted": 1, "total": 3},
        {"entity": "posts", "active": 5, "deleted": 1, "total": 6},
    ],
}

RATE_KEYS = {"share", "cancellation_rate", "average_engagement_rate", "average_likes"}
RATE_KEYS |= {"average_comments", "average_media_items"}


def _typed_values(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [
            pair for key, value in node.items() for pair in [(key, value), *_typed_values(value)]
        ]
    if isinstance(node, list):
        return [pair for item in node for pair in _typed_values(item)]
    return []


def test_cli_json(known: sa.Engine) -> None:
    document = json_report("--top", "2", "--database-url", url_of(known))
    assert document == ALL_TIME_JSON
    for key, value in _typed_values(document):
        if key.endswith("_cents") or key in {"orders", "units", "posts", "total"}:
            assert type(value) is int, key
        if key in RATE_KEYS:
            assert type(value) is float, key


def test_cli_json_with_days(known: sa.Engine) -> None:
    document = json_report("--days", "1", "--database-url", url_of(known))
    today = datetime.now(UTC).date()
    assert document["window"]["days"] == 1
    assert document["window"]["since"] in {
        f"{day.isoformat()}T00:00:00+00:00" for day in (today, today - timedelta(days=1))
    }
    assert document["orders_per_day"] == []
    assert document["order_status"] == {
        "orders": 0,
        "cancelled_orders": 0,
        "cancellation_rate": None,
        "statuses": [],
    }


def test_cli_tables(known: sa.Engine) -> None:
    result = invoke("report", "--database-url", url_of(known))
    assert result.exit_code == 0, result.output
    for title in (
        "Orders and revenue per day (all time)",
        "Top products by revenue",
        "Top suppliers by revenue",
        "Order status mix",
        "Posts by type",
        "Active and soft-deleted users and posts",
    ):
        assert title in result.stdout
    assert re.search(r"\n +2025-01-14 +2 +0 +\$60\.00 *\n", result.stdout), result.stdout
    assert "$25.00" in result.stdout
    assert "Mug v2" in result.stdout
    assert "Acme Ltd" in result.stdout
    assert "cancellation rate 20.0%" in result.stdout
    assert "6000" not in result.stdout


def test_cli_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = invoke("report", "--database-url", f"sqlite:///{empty}")
    assert result.exit_code == 6
    assert result.stderr.startswith(f"Error: schema not migrated (sqlite:///{empty}): ")
    assert result.stderr.endswith("; fix: run `analytics migrate upgrade`\n")


def test_cli_refuses_a_missing_sqlite_file_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the README's `report --days 7` did after `demo`: the default database file
    did not exist, and the report left an empty one behind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANALYTICS_DATABASE_URL", raising=False)
    result = invoke("report", "--days", "7", "--top", "20", "--format", "json")
    assert result.exit_code == 6
    assert result.stderr == (
        "Error: unknown database (sqlite:///analytics-data/analytics.db): no such file; fix:"
        " create it and run `analytics migrate upgrade`, or correct its name in"
        " ANALYTICS_DATABASE_URL\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_bad_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'unused.db'}"
    for options in (["--days", "0"], ["--top", "0"], ["--format", "csv"]):
        assert invoke("report", *options, "--database-url", url).exit_code == 2


def test_report_of_events_loaded_through_the_pipeline(engine: sa.Engine) -> None:
    url = url_of(engine)
    files = sorted(str(path) for path in SAMPLES.glob("*.json"))
    loaded = invoke("load", "--database-url", url, *files)
    assert loaded.exit_code == 0, loaded.output

    document = json_report("--database-url", url)

    # order.created: one pending order, items 26913 + 13816 (its cancel names another order).
    assert document["orders_per_day"] == [
        {"day": "2025-01-15", "orders": 1, "cancelled_orders": 0, "revenue_cents": 40729}
    ]
    assert [
        (p["product_name"], p["orders"], p["units"], p["revenue_cents"])
        for p in document["top_products"]
    ] == [("Handmade Scarf #504", 1, 3, 26913), ("Handmade Mug #475", 1, 4, 13816)]
    assert [(s["supplier_name"], s["revenue_cents"]) for s in document["top_suppliers"]] == [
        ("Patel Crafts LLC", 26913),
        ("Smith Crafts LLC", 13816),
    ]
    assert document["order_status"] == {
        "orders": 1,
        "cancelled_orders": 0,
        "cancellation_rate": 0.0,
        "statuses": [{"status": "pending", "orders": 1, "share": 1.0}],
    }
    # Two text posts (one published, engagement 7.3333 and 0.0, likes 21 and 0) and one
    # image draft with one media item.
    assert document["posts_by_type"] == [
        {
            "post_type": "text",
            "posts": 2,
            "published": 1,
            "drafts": 1,
            "average_engagement_rate": 3.66665,
            "average_likes": 10.5,
            "average_comments": 0.5,
            "media_items": 0,
            "average_media_items": 0.0,
        },
        {
            "post_type": "image",
            "posts": 1,
            "published": 0,
            "drafts": 1,
            "average_engagement_rate": 0.0,
            "average_likes": 0.0,
            "average_comments": 0.0,
            "media_items": 1,
            "average_media_items": 1.0,
        },
    ]
    assert document["entities"] == [
        {"entity": "users", "active": 1, "deleted": 0, "total": 1},
        {"entity": "posts", "active": 3, "deleted": 0, "total": 3},
    ]
    table = invoke("report", "--database-url", url)
    assert table.exit_code == 0, table.output
    assert "$407.29" in table.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_every_table_is_readable_in_a_terminal(sqlite_engine: sa.Engine, width: int) -> None:
    empty_tables(sqlite_engine)
    messages = [
        Source(message.topic, 0, offset, message.key, message.value)
        for offset, message in enumerate(generate(3, 3000))
    ]
    load(sqlite_engine, messages, 500, DEFAULT_SECRETS)
    report = read_report(sqlite_engine, top=10)
    values = [
        *(f"{p.product_name} {p.product_id} {money(p.revenue_cents)}" for p in report.top_products),
        *(
            f"{s.supplier_name} {s.supplier_id} {money(s.revenue_cents)}"
            for s in report.top_suppliers
        ),
        *(f"{d.day} {money(d.revenue_cents)}" for d in report.orders_per_day),
        *(
            f"{r.post_type} {r.average_engagement_rate:.4f} {r.media_items}"
            for r in report.posts_by_type
        ),
    ]
    tables = render_tables(report)
    shown = "".join(rendered(table, width) for table in tables)
    for table in tables:
        assert_readable(table, width, [])
    words = set(shown.split())
    assert [word for value in values for word in value.split() if word not in words] == []
