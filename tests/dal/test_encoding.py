"""Upserts rendered as SQL text store every value exactly as parameters would.

On mysqlclient, `execute_upsert` writes the values into the statement itself; these tests
send awkward values through it to a real server and compare what is stored with what was
given and with what SQLAlchemy's plain parameterized insert stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import cycle, islice
from typing import Any

import pytest
import sqlalchemy as sa

from analytics.dal import statements
from analytics.schema import TABLE_OPTIONS, ExactString, Json, UtcDateTime

scratch = sa.MetaData()
samples = sa.Table(
    "encoding_samples",
    scratch,
    sa.Column("id", ExactString(24), primary_key=True),
    sa.Column("short", sa.String(255)),
    sa.Column("long", sa.Text()),
    sa.Column("small", sa.Integer()),
    sa.Column("big", sa.BigInteger()),
    sa.Column("ratio", sa.Double()),
    sa.Column("flag", sa.Boolean()),
    sa.Column("stamp", UtcDateTime),
    sa.Column("document", Json),
    **TABLE_OPTIONS,
)
TEXT_COLUMNS = ("short", "long", "document")
UPDATE = tuple(column.name for column in samples.columns if column.name != "id")

STRINGS = [
    "",
    " ",
    "trailing  ",
    "'",
    "''",
    '"',
    "\\",
    "\\\\",
    "\\'",
    "'; DROP TABLE users; --",
    "%",
    "%s",
    "%%s",
    "%(name)s",
    "{}",
    "\x00",
    "a\x00b",
    "\x1a",
    "\r\n",
    "\n",
    "\t",
    "\b",
    "\x7f",
    "\\N",
    "NULL",
    "_binary'x'",
    "😀",
    "𝄞 music",
    "e\u0301",
    "é",
    "中文字符",
    "\u200b\ufeff\u2028",
    None,
]
LONG_TEXTS = ["O'Brien \\ 100% 😀\r\n" * 2000, "\x00" * 1000, "", None]
SMALL_INTS = [0, -1, 2**31 - 1, -(2**31), None]
BIG_INTS = [2**63 - 1, -(2**63), 0, None]
DOUBLES = [
    0.1,
    1 / 3,
    -0.0,
    1e308,
    -1e-300,
    2.2250738585072014e-308,
    1e16,
    123456789.123456789,
    None,
]
FLAGS = [True, False, None]
STAMPS = [
    datetime(2025, 1, 15, 10, 0),
    datetime(2025, 1, 15, 10, 0, 0, 1),
    datetime(2025, 12, 31, 23, 59, 59, 999999),
    datetime(1000, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
    None,
]
DOCUMENTS = [
    {"name": "Zoë 😀", "nested": {"list": [1, 2.5, None, True, {"deep": ["e\u0301"]}]}},
    ["%s", "'", "\\", "\x00", '"quoted"'],
    [-(2**63), 2**64 - 1, 2**53 + 1],  # the integers a JSON field accepts, at their edges
    "plain string",
    0,
    [],
    {},
    None,
]


def sample_rows(prefix: str) -> list[dict[str, Any]]:
    """Every listed value at least once; the columns cycle through their lists."""
    columns: dict[str, list[Any]] = {
        "short": STRINGS,
        "long": LONG_TEXTS,
        "small": SMALL_INTS,
        "big": BIG_INTS,
        "ratio": DOUBLES,
        "flag": FLAGS,
        "stamp": STAMPS,
        "document": DOCUMENTS,
    }
    count = max(len(values) for values in columns.values())
    cycled = {name: list(islice(cycle(values), count)) for name, values in columns.items()}
    return [
        {"id": f"{prefix}{n:04d}", **{name: cycled[name][n] for name in columns}}
        for n in range(count)
    ]


@contextmanager
def samples_table(engine: sa.Engine) -> Iterator[sa.Engine]:
    scratch.create_all(engine)
    try:
        yield engine
    finally:
        scratch.drop_all(engine)


@pytest.fixture
def with_samples(engine: sa.Engine) -> Iterator[sa.Engine]:
    with samples_table(engine):
        yield engine


@pytest.fixture
def mysql_with_samples(mysql_only: sa.Engine) -> Iterator[sa.Engine]:
    with samples_table(mysql_only):
        yield mysql_only


def stored(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        return {row["id"]: dict(row) for row in connection.execute(sa.select(samples)).mappings()}


def stored_text(engine: sa.Engine) -> dict[str, tuple[str | None, ...]]:
    """The stored bytes of the text columns, as the server's HEX() spells them."""
    columns = [sa.func.hex(samples.c[name]) for name in TEXT_COLUMNS]
    with engine.connect() as connection:
        query = sa.select(samples.c.id, *columns)
        return {row[0]: tuple(row[1:]) for row in connection.execute(query)}


def test_rendered_values_are_stored_as_given(with_samples: sa.Engine) -> None:
    rows = sample_rows("rendered")
    # Insert each row with another row's values, then overwrite: both paths of an upsert.
    shifted = [
        {**other, "id": row["id"]} for row, other in zip(rows, rows[1:] + rows[:1], strict=True)
    ]
    with with_samples.begin() as connection:
        statements.execute_upsert(connection, samples, shifted, UPDATE)
        statements.execute_upsert(connection, samples, rows, UPDATE)
    assert stored(with_samples) == {row["id"]: row for row in rows}
    text = stored_text(with_samples)
    for row in rows:
        short, long, _ = text[row["id"]]
        for given, hexed in ((row["short"], short), (row["long"], long)):
            # NULLs were compared above (SQLite's HEX(NULL) is '').
            assert (hexed or "") == (given or "").encode().hex().upper()


def test_rendered_values_are_stored_as_a_parameterized_insert_stores_them(
    with_samples: sa.Engine,
) -> None:
    with with_samples.begin() as connection:
        statements.execute_upsert(connection, samples, sample_rows("rendered"), UPDATE)
        connection.execute(samples.insert(), sample_rows("bound"))
    rows, text = stored(with_samples), stored_text(with_samples)
    for row in sample_rows("rendered"):
        twin = row["id"].replace("rendered", "bound")
        assert {**rows[row["id"]], "id": twin} == rows[twin]
        assert text[row["id"]] == text[twin]


def test_a_value_the_driver_cannot_quote_raises_a_dbapi_error(
    mysql_with_samples: sa.Engine,
) -> None:
    row = {**sample_rows("nan")[0], "ratio": float("nan")}
    with pytest.raises(sa.exc.DBAPIError), mysql_with_samples.begin() as connection:
        statements.execute_upsert(connection, samples, [row], UPDATE)


def test_a_refused_statement_is_reported_without_its_values(
    mysql_with_samples: sa.Engine,
) -> None:
    secret = "kwame@example.com"
    rows = [{**row, "short": secret * 20} for row in sample_rows("long")]
    with pytest.raises(sa.exc.DBAPIError) as caught, mysql_with_samples.begin() as connection:
        statements.execute_upsert(connection, samples, rows, UPDATE)
    assert secret not in str(caught.value)
    assert "INSERT INTO" in str(caught.value)


ANY_VALUES: list[Any] = [
    *STRINGS,
    *SMALL_INTS,
    *BIG_INTS,
    *DOUBLES,
    *FLAGS,
    *STAMPS,
    float("nan"),
    float("-inf"),
    2**70,
    Decimal("-12.50"),
    date(2025, 1, 15),
    timedelta(days=-1, seconds=5),
    datetime(2025, 1, 15, 10, 0, tzinfo=UTC),
    datetime(2025, 1, 15, 10, 0, tzinfo=timezone(timedelta(hours=2))),
    b"bytes",
    ("a", 1),
]


def quoted(quote: Any, value: Any) -> str:
    try:
        return str(quote(value))
    except Exception as error:  # the failure itself is what is compared
        return f"raises {type(error).__name__}"


@pytest.mark.parametrize("column", [column.name for column in samples.columns])
def test_every_encoder_renders_any_value_as_the_driver_does(
    mysql_only: sa.Engine, column: str
) -> None:
    """Whatever Python type reaches a column, its encoder writes the driver's literal."""
    with mysql_only.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        type_ = samples.c[column].type.dialect_impl(connection.dialect)
        encode = statements._encoder_for(type_)(driver)
        for value in ANY_VALUES:
            expected = quoted(lambda v: driver.literal(v).decode(driver.encoding), value)
            assert quoted(encode, value) == expected, value
