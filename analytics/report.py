"""`analytics report`: the questions analysts ask of the read model, on MySQL, MariaDB and SQLite.

Each question is one function that builds a SQLAlchemy Core query on the schema's tables and
returns plain rows; `build_report` runs them all on one connection. Money stays integer cents
(order totals are SUM(order_items.total_cents), never stored); it is formatted as currency
only by `render_tables`, for the terminal.

Dialect differences handled here:

- JSON array length: `JSON_LENGTH(x)` on MySQL/MariaDB, `json_array_length(x)` on SQLite
  (`JsonArrayLength` below).
- Day of a DATETIME: `DATE(x)` on all three, but SQLite returns text; typing the expression as
  `sa.Date` makes SQLAlchemy hand back `datetime.date` everywhere.
- Averages are computed in Python from exact SQL sums and counts: MySQL's AVG of an integer
  column is a DECIMAL rounded to `div_precision_increment` (4) places, SQLite's a double.
- SUM and COUNT come back as `Decimal` on MySQL and as `int` on SQLite; rows are converted.
- On MySQL/MariaDB `read_report` reads in one REPEATABLE READ transaction so that every
  section sees the same snapshot (the engine's default is READ COMMITTED, where each
  statement sees its own).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from rich import box
from rich.table import Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from analytics.db import is_mysql_family
from analytics.schema import order_items, orders, posts, users

DEFAULT_TOP = 10
CANCELLED = "cancelled"
CURRENCY_SYMBOL = "$"


# --- dialect helpers --------------------------------------------------------------------------


class JsonArrayLength(FunctionElement[int]):
    """Number of elements of a JSON array column; NULL for a NULL value."""

    type = sa.Integer()
    name = "json_array_length"
    inherit_cache = True


@compiles(JsonArrayLength)
def _json_array_length_default(element: JsonArrayLength, compiler: SQLCompiler, **kw: Any) -> str:
    return f"JSON_LENGTH({compiler.process(element.clauses, **kw)})"


@compiles(JsonArrayLength, "sqlite")
def _json_array_length_sqlite(element: JsonArrayLength, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_array_length({compiler.process(element.clauses, **kw)})"


def day_of(column: sa.ColumnElement[datetime]) -> sa.ColumnElement[date]:
    """The UTC calendar day of a DATETIME column, as a `datetime.date` on every dialect."""
    return sa.func.date(column, type_=sa.Date())


def _int(value: Any) -> int:
    return int(value or 0)


def _ratio(part: float, whole: int) -> float | None:
    return part / whole if whole else None


# --- the rows ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The period the report covers: every order, post and user when `days` is None."""

    days: int | None
    since: datetime | None  # naive UTC, start of the first day included


@dataclass(frozen=True, slots=True)
class DayRow:
    day: date
    orders: int  # every order created that day, cancelled ones included
    cancelled_orders: int
    revenue_cents: int  # items of the orders that are not cancelled


@dataclass(frozen=True, slots=True)
class ProductRow:
    product_id: str
    product_name: str | None  # snapshot of the most recent order
    orders: int
    units: int
    revenue_cents: int


@dataclass(frozen=True, slots=True)
class SupplierRow:
    supplier_id: str
    supplier_name: str | None  # snapshot of the most recent order
    orders: int
    units: int
    revenue_cents: int


@dataclass(frozen=True, slots=True)
class StatusRow:
    status: str
    orders: int
    share: float  # of all orders in the window


@dataclass(frozen=True, slots=True)
class StatusMix:
    orders: int
    cancelled_orders: int
    cancellation_rate: float | None  # None when there are no orders
    statuses: list[StatusRow]


@dataclass(frozen=True, slots=True)
class PostTypeRow:
    post_type: str
    posts: int  # soft-deleted posts excluded
    published: int
    drafts: int
    average_engagement_rate: float
    average_likes: float
    average_comments: float
    media_items: int
    average_media_items: float


@dataclass(frozen=True, slots=True)
class EntityCounts:
    entity: str
    active: int
    deleted: int  # soft-deleted
    total: int


@dataclass(frozen=True, slots=True)
class Report:
    window: Window
    orders_per_day: list[DayRow]
    top_products: list[ProductRow]
    top_suppliers: list[SupplierRow]
    order_status: StatusMix
    posts_by_type: list[PostTypeRow]
    entities: list[EntityCounts]


# --- the questions ----------------------------------------------------------------------------


def window(days: int | None, now: datetime | None = None) -> Window:
    """The last `days` UTC calendar days, today included (`now` is naive UTC or aware)."""
    if days is None:
        return Window(None, None)
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    current = now or datetime.now(UTC)
    if current.tzinfo is not None:
        current = current.astimezone(UTC).replace(tzinfo=None)
    first_day = current.date() - timedelta(days=days - 1)
    return Window(days, datetime.combine(first_day, time()))


def _created_since(
    column: sa.ColumnElement[datetime], since: datetime | None
) -> sa.ColumnElement[bool]:
    return column >= since if since is not None else sa.true()


def _not_cancelled() -> sa.ColumnElement[bool]:
    return orders.c.status != CANCELLED


def orders_per_day(connection: sa.Connection, since: datetime | None = None) -> list[DayRow]:
    """Orders, cancellations and revenue per order-created day, oldest day first.

    Each order's total is summed over its items first, so an order with several items is
    counted once; an order without items counts with a revenue of 0.
    """
    order_total = (
        sa.select(sa.func.coalesce(sa.func.sum(order_items.c.total_cents), 0))
        .where(order_items.c.order_id == orders.c.order_id)
        .scalar_subquery()
    )
    per_order = (
        sa.select(
            day_of(orders.c.created_at).label("day"),
            sa.case((orders.c.status == CANCELLED, 1), else_=0).label("cancelled"),
            sa.case((orders.c.status == CANCELLED, 0), else_=order_total).label("revenue"),
        )
        .where(_created_since(orders.c.created_at, since))
        .subquery("per_order")
    )
    query = (
        sa.select(
            per_order.c.day,
            sa.func.count().label("orders"),
            sa.func.sum(per_order.c.cancelled).label("cancelled_orders"),
            sa.func.sum(per_order.c.revenue).label("revenue_cents"),
        )
        .group_by(per_order.c.day)
        .order_by(per_order.c.day)
    )
    return [
        DayRow(row.day, _int(row.orders), _int(row.cancelled_orders), _int(row.revenue_cents))
        for row in connection.execute(query)
    ]


def _top_sales(
    connection: sa.Connection,
    key: sa.Column[str],
    name: sa.Column[str],
    since: datetime | None,
    top: int,
) -> list[tuple[str, str | None, int, int, int]]:
    """(key, latest name, orders, units, revenue) of the `top` keys by revenue, not cancelled."""
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    sold = order_items.join(orders, order_items.c.order_id == orders.c.order_id)
    counted = sa.and_(_not_cancelled(), _created_since(orders.c.created_at, since))
    revenue = sa.func.sum(order_items.c.total_cents)
    ranked = connection.execute(
        sa.select(
            key,
            sa.func.count(sa.distinct(order_items.c.order_id)).label("orders"),
            sa.func.sum(order_items.c.quantity).label("units"),
            revenue.label("revenue"),
        )
        .select_from(sold)
        .where(counted)
        .group_by(key)
        .order_by(revenue.desc(), key)
        .limit(top)
    ).all()
    keys = [row[0] for row in ranked]
    names = _latest_names(connection, key, name, keys, counted) if keys else {}
    return [
        (row[0], names.get(row[0]), _int(row.orders), _int(row.units), _int(row.revenue))
        for row in ranked
    ]


def _latest_names(
    connection: sa.Connection,
    key: sa.Column[str],
    name: sa.Column[str],
    keys: Sequence[str],
    counted: sa.ColumnElement[bool],
) -> dict[str, str]:
    """The name snapshot of each key in its most recent counted order (names change)."""
    recency = sa.func.row_number().over(
        partition_by=key, order_by=(orders.c.created_at.desc(), order_items.c.id.desc())
    )
    latest = (
        sa.select(key.label("key"), name.label("name"), recency.label("recency"))
        .select_from(order_items.join(orders, order_items.c.order_id == orders.c.order_id))
        .where(key.in_(keys), name.is_not(None), counted)
        .subquery("latest")
    )
    rows = connection.execute(sa.select(latest.c.key, latest.c.name).where(latest.c.recency == 1))
    return {row.key: row.name for row in rows}


def top_products(
    connection: sa.Connection, since: datetime | None = None, top: int = DEFAULT_TOP
) -> list[ProductRow]:
    """Products by revenue over the orders that are not cancelled, highest first."""
    return [
        ProductRow(*row)
        for row in _top_sales(
            connection, order_items.c.product_id, order_items.c.product_name, since, top
        )
    ]


def top_suppliers(
    connection: sa.Connection, since: datetime | None = None, top: int = DEFAULT_TOP
) -> list[SupplierRow]:
    """Suppliers by revenue over the orders that are not cancelled, highest first."""
    return [
        SupplierRow(*row)
        for row in _top_sales(
            connection, order_items.c.supplier_id, order_items.c.supplier_name, since, top
        )
    ]


def order_status_mix(connection: sa.Connection, since: datetime | None = None) -> StatusMix:
    """Orders per status with their share, most frequent first, and the cancellation rate."""
    count = sa.func.count()
    rows = connection.execute(
        sa.select(orders.c.status, count.label("order_count"))
        .where(_created_since(orders.c.created_at, since))
        .group_by(orders.c.status)
        .order_by(count.desc(), orders.c.status)
    ).all()
    total = sum(_int(row.order_count) for row in rows)
    cancelled = sum(_int(row.order_count) for row in rows if row.status == CANCELLED)
    return StatusMix(
        orders=total,
        cancelled_orders=cancelled,
        cancellation_rate=_ratio(cancelled, total),
        statuses=[
            StatusRow(row.status, _int(row.order_count), _int(row.order_count) / total)
            for row in rows
        ],
    )


def posts_by_type(connection: sa.Connection, since: datetime | None = None) -> list[PostTypeRow]:
    """Per post type: posts, published and drafts, average stats and media items.

    Soft-deleted posts are left out. A NULL stat counts as 0, and so does NULL media.
    """
    count = sa.func.count()
    rows = connection.execute(
        sa.select(
            posts.c.post_type,
            count.label("post_count"),
            sa.func.sum(sa.case((posts.c.published_at.is_not(None), 1), else_=0)).label(
                "published"
            ),
            sa.func.sum(sa.func.coalesce(posts.c.engagement_rate, 0.0)).label("engagement"),
            sa.func.sum(sa.func.coalesce(posts.c.like_count, 0)).label("likes"),
            sa.func.sum(sa.func.coalesce(posts.c.comment_count, 0)).label("comments"),
            sa.func.sum(sa.func.coalesce(JsonArrayLength(posts.c.media_json), 0)).label("media"),
        )
        .where(posts.c.deleted_at.is_(None), _created_since(posts.c.created_at, since))
        .group_by(posts.c.post_type)
        .order_by(count.desc(), posts.c.post_type)
    )
    result = []
    for row in rows:
        total, published, media = _int(row.post_count), _int(row.published), _int(row.media)
        result.append(
            PostTypeRow(
                post_type=row.post_type,
                posts=total,
                published=published,
                drafts=total - published,
                average_engagement_rate=float(row.engagement or 0) / total,
                average_likes=_int(row.likes) / total,
                average_comments=_int(row.comments) / total,
                media_items=media,
                average_media_items=media / total,
            )
        )
    return result


def entity_counts(connection: sa.Connection, since: datetime | None = None) -> list[EntityCounts]:
    """Active and soft-deleted users and posts."""
    result = []
    for table in (users, posts):
        row = connection.execute(
            sa.select(
                sa.func.count().label("total"),
                sa.func.sum(sa.case((table.c.deleted_at.is_not(None), 1), else_=0)).label(
                    "deleted"
                ),
            ).where(_created_since(table.c.created_at, since))
        ).one()
        total, deleted = _int(row.total), _int(row.deleted)
        result.append(EntityCounts(table.name, total - deleted, deleted, total))
    return result


def build_report(
    connection: sa.Connection,
    *,
    days: int | None = None,
    top: int = DEFAULT_TOP,
    now: datetime | None = None,
) -> Report:
    """Every section, over the orders, posts and users created in the last `days` UTC days
    (today included; all of them when None). `now` defaults to the current time."""
    period = window(days, now)
    since = period.since
    return Report(
        window=period,
        orders_per_day=orders_per_day(connection, since),
        top_products=top_products(connection, since, top),
        top_suppliers=top_suppliers(connection, since, top),
        order_status=order_status_mix(connection, since),
        posts_by_type=posts_by_type(connection, since),
        entities=entity_counts(connection, since),
    )


def read_report(
    engine: sa.Engine,
    *,
    days: int | None = None,
    top: int = DEFAULT_TOP,
    now: datetime | None = None,
) -> Report:
    """`build_report` in one read transaction, so that all sections agree with each other."""
    with engine.connect() as connection:
        if is_mysql_family(engine.dialect):
            connection.execution_options(isolation_level="REPEATABLE READ")
        report = build_report(connection, days=days, top=top, now=now)
        connection.rollback()
    return report


# --- output -----------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {name: _json_value(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    return value


def report_document(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: cents as ints, rates as floats, days as ISO dates."""
    document: dict[str, Any] = _json_value(asdict(report))
    return document


def report_json(report: Report) -> str:
    return json.dumps(report_document(report), ensure_ascii=False, indent=2)


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{CURRENCY_SYMBOL}{whole:,}.{fraction:02d}"


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


NUMERIC_COLUMNS = frozenset(
    {
        "orders",
        "cancelled",
        "revenue",
        "units",
        "share",
        "posts",
        "published",
        "drafts",
        "avg engagement",
        "avg likes",
        "avg comments",
        "media items",
        "avg media",
        "active",
        "soft-deleted",
        "total",
    }
)


def _table(title: str, *columns: str) -> Table:
    """Light borders and whole numbers (never cut), so that 80 columns hold every table;
    a header of two words may take two lines."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in columns:
        numeric = column.replace("\n", " ") in NUMERIC_COLUMNS
        table.add_column(column, justify="right" if numeric else "left", no_wrap=numeric)
    return table


def _named(name: str | None, identifier: str) -> str:
    """A name above its identifier, in one cell: both whole in a narrow column."""
    return f"{name or '—'}\n[dim]{identifier}[/dim]"


def _period(period: Window) -> str:
    if period.since is None:
        return "all time"
    plural = "" if period.days == 1 else "s"
    return f"last {period.days} day{plural}, since {period.since:%Y-%m-%d} UTC"


def render_tables(report: Report) -> list[Table]:
    """One rich table per section, with money as currency and rates as percentages."""
    days = _table(
        f"Orders and revenue per day ({_period(report.window)})",
        "day",
        "orders",
        "cancelled",
        "revenue",
    )
    for day in report.orders_per_day:
        days.add_row(
            day.day.isoformat(),
            str(day.orders),
            str(day.cancelled_orders),
            money(day.revenue_cents),
        )

    products = _table(
        "Top products by revenue (cancelled orders excluded)",
        "product",
        "orders",
        "units",
        "revenue",
    )
    for product in report.top_products:
        products.add_row(
            _named(product.product_name, product.product_id),
            str(product.orders),
            str(product.units),
            money(product.revenue_cents),
        )

    suppliers = _table(
        "Top suppliers by revenue (cancelled orders excluded)",
        "supplier",
        "orders",
        "units",
        "revenue",
    )
    for supplier in report.top_suppliers:
        suppliers.add_row(
            _named(supplier.supplier_name, supplier.supplier_id),
            str(supplier.orders),
            str(supplier.units),
            money(supplier.revenue_cents),
        )

    mix = report.order_status
    statuses = _table("Order status mix", "status", "orders", "share")
    statuses.caption = (
        f"{mix.orders} orders, {mix.cancelled_orders} cancelled:"
        f" cancellation rate {_percent(mix.cancellation_rate)}"
    )
    statuses.min_width = len(statuses.caption)
    for status in mix.statuses:
        statuses.add_row(status.status, str(status.orders), _percent(status.share))

    # Drafts are posts minus published (the JSON has them): the row fits 80 columns.
    post_types = _table(
        "Posts by type (soft-deleted posts excluded)",
        "type",
        "posts",
        "published",
        "avg\nengagement",
        "avg\nlikes",
        "avg\ncomments",
        "media\nitems",
        "avg\nmedia",
    )
    post_types.columns[0].no_wrap = True
    for row in report.posts_by_type:
        post_types.add_row(
            row.post_type,
            str(row.posts),
            str(row.published),
            f"{row.average_engagement_rate:.4f}",
            f"{row.average_likes:.2f}",
            f"{row.average_comments:.2f}",
            str(row.media_items),
            f"{row.average_media_items:.2f}",
        )

    entities = _table(
        "Active and soft-deleted users and posts", "entity", "active", "soft-deleted", "total"
    )
    for counts in report.entities:
        entities.add_row(counts.entity, str(counts.active), str(counts.deleted), str(counts.total))

    return [days, products, suppliers, statuses, post_types, entities]
