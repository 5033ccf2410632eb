"""Messages that carry secrets in every place a careless producer could put them, and a
search of the database and the logs for those secrets.

Every message of the corpus is dead-lettered, and each carries its own secret value: a
test runs the corpus through the pipeline or the consumer, after `valid()`, then looks for
every value in every column of every table (as bytes, in UTF-8 and UTF-16) and in the logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from analytics.schema import metadata
from analytics.secrets import DEFAULT_SECRET_FIELDS
from tests.samples import encode, sample_bytes, sample_dict

# The defaults, and one name the configured list adds (the corpus spells it PinCode).
SECRET_FIELDS = (*DEFAULT_SECRET_FIELDS, "pin_code")

UNKNOWN_USER = "0000000000000000000000aa"
ORDER = sample_dict("order.created")["entity_id"]


@dataclass(frozen=True)
class Leak:
    """One message of the corpus: where its secret hides, and whether its raw value (and
    its key) can be kept once redacted (else only the message's hash and size are)."""

    name: str
    topic: str
    key: bytes | None
    value: bytes
    secret: str
    kept: bool
    key_kept: bool = True


def secret_of(name: str) -> str:
    return f"Hunter2x{name.replace('-', '')[:20]}Q"


def _user_deleted(**data: Any) -> dict[str, Any]:
    """A delete of a user never created: dead-lettered as unknown_entity, replayable."""
    envelope = sample_dict("user.deleted")
    envelope["entity_id"] = UNKNOWN_USER
    envelope["data"] = {"user_id": UNKNOWN_USER, **data}
    return envelope


def _user_created_too_long() -> dict[str, Any]:
    """A user whose display name is over its column's 100 characters: invalid_payload."""
    envelope = sample_dict("user.created")
    envelope["data"]["profile"]["display_name"] = "N" * 101
    return envelope


def corpus() -> list[Leak]:
    leaks: list[Leak] = []

    def add(
        name: str, topic: str, value: bytes, kept: bool, key: bytes | None = None, **more: bool
    ) -> None:
        leaks.append(Leak(name, topic, key, value, secret_of(name), kept, **more))

    too_long = _user_created_too_long()
    too_long["data"]["password_hash"] = secret_of("snake-case")
    add("snake-case", "user", encode(too_long), kept=True)

    add("camel-case", "user", encode(_user_deleted(passwordHash=secret_of("camel-case"))), True)
    add("upper-case", "user", encode(_user_deleted(PASSWORD_HASH=secret_of("upper-case"))), True)
    banking = {"Banking-Info": {"bank_name": secret_of("kebab-object")}}
    add("kebab-object", "user", encode(_user_deleted(**banking)), True)

    escaped = encode(_user_deleted(placeholder=secret_of("u-escaped-key")))
    escaped = escaped.replace(b'"placeholder"', b'"\\u0070assword_hash"')
    add("u-escaped-key", "user", escaped, True)

    double = sample_dict("user.created")
    double["data"] = json.dumps({**double["data"], "password_hash": secret_of("double-encoded")})
    add("double-encoded", "user", encode(double), True)

    twice = sample_dict("user.created")
    twice["data"] = json.dumps(json.dumps({"password_hash": secret_of("twice-encoded")}))
    add("twice-encoded", "user", encode(twice), False)

    arrays = _user_created_too_long()
    arrays["data"]["links"] = [[{"access_token": secret_of("in-arrays")}], 1]
    add("in-arrays", "user", encode(arrays), True)

    in_string = _user_created_too_long()
    in_string["data"]["profile"]["bio"] = json.dumps([{"Secret": secret_of("json-in-a-string")}])
    add("json-in-a-string", "user", encode(in_string), True)

    first = json.dumps({"user_id": UNKNOWN_USER, "password_hash": secret_of("duplicate-key")})
    duplicate = encode(_user_deleted())
    duplicate = duplicate.replace(b'"data": ', b'"data": ' + first.encode() + b', "data": ', 1)
    add("duplicate-key", "user", duplicate, True)

    repr_value = {**sample_dict("user.created"), "password_hash": secret_of("python-repr")}
    add("python-repr", "user", repr(repr_value).encode(), False)

    quotes = b'{"event_type": "user.created", "data": {\'password\': \'%s\'}}'
    add("single-quotes", "user", quotes % secret_of("single-quotes").encode(), False)

    colon = b'{"event_type": "user.created", "data": {"password_hash" "%s"}}'
    add("missing-colon", "user", colon % secret_of("missing-colon").encode(), False)

    invalid = _user_created_too_long()
    invalid["data"]["password_hash"] = secret_of("invalid-utf8")
    add("invalid-utf8", "user", encode(invalid).replace(b"NNNN", b"NN\xffN", 1), False)

    bom = _user_created_too_long()
    bom["data"]["password_hash"] = secret_of("bom")
    add("bom", "user", b"\xef\xbb\xbf" + encode(bom), False)

    utf16 = _user_created_too_long()
    utf16["data"]["password_hash"] = secret_of("utf-16")
    add("utf-16", "user", json.dumps(utf16).encode("utf-16"), False)

    plain = f"login failed for bob, password={secret_of('plain-text')}".encode()
    add("plain-text", "user", plain, False)

    add(
        "kafka-key",
        "user",
        encode(_user_deleted()),
        True,
        key=f"password={secret_of('kafka-key')}".encode(),
        key_kept=False,
    )

    product = sample_dict("product.created")
    variant = next(iter(product["data"]["variants"].values()))
    product["data"]["variants"] = {
        f"password={secret_of('variant-key')}": {**variant, "price_cents": "free"}
    }
    add("variant-key", "product", encode(product), False)

    unknown_type = sample_dict("user.created")
    unknown_type["event_type"] = f"user.password:{secret_of('event-type')}"
    add("event-type", "user", encode(unknown_type), False)

    mismatch = sample_dict("user.created")
    mismatch["data"]["id"] = f"api_key={secret_of('data-id')}"
    add("data-id", "user", encode(mismatch), False)

    entity = f"secret:{secret_of('entity-id')}"
    wrong_entity = _user_deleted()
    wrong_entity["entity_id"] = wrong_entity["data"]["user_id"] = entity
    leaks.append(Leak("entity-id", "user", None, encode(wrong_entity), entity[7:], False))

    # A cancel of the order the batch creates first, naming another order number.
    cancel = sample_dict("order.cancelled")
    cancel["entity_id"] = ORDER
    cancel["timestamp"] = "2025-01-16T00:00:00+00:00"  # after the order's creation
    cancel["data"]["order_number"] = f"password:{secret_of('order-number')}"
    add("order-number", "order", encode(cancel), False, key=ORDER.encode())

    items = sample_dict("order.created")
    item = items["data"]["items"][0]
    item_id = f"password:{secret_of('item-id')}"
    items["data"]["items"] = [{**item, "item_id": item_id}, {**item, "item_id": item_id}]
    add("item-id", "order", encode(items), False)

    url = _user_created_too_long()
    url["data"]["profile"]["avatar"] = (
        f"https://cdn.example.com/a.png?access_token={secret_of('url-token')}"
    )
    add("url-token", "user", encode(url), False)

    head = b'{"event_type": "user.created", "password_hash": "%s", "data": '
    deep = head % secret_of("deep").encode() + b"[" * 3000 + b"]" * 3000 + b"}"
    add("deep", "user", deep, False)

    configured = _user_deleted(PinCode=secret_of("configured-name"))
    add("configured-name", "user", encode(configured), True)

    return leaks


def oversized() -> Leak:
    """Over 4 MiB: too large to keep in a dead letter, however it is redacted."""
    document = _user_created_too_long()
    document["data"]["password_hash"] = secret_of("oversized")
    document["data"]["profile"]["bio"] = "b" * (5 * 1024 * 1024)
    return Leak("oversized", "user", None, encode(document), secret_of("oversized"), False)


def forms(secret: str) -> list[bytes]:
    """The ways a stored or logged secret could be spelled."""
    return [
        secret.encode(),
        secret.lower().encode(),
        secret.encode("utf-16-le"),
        secret.encode("utf-16-be"),
        "".join(f"{c}\\u0000" for c in secret).encode(),
        "".join(f"{c}\\x00" for c in secret).encode(),
    ]


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


def found_in_tables(engine: sa.Engine, secrets: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, secret) for every secret found in any column of any table."""
    found = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    data = _as_bytes(value)
                    found += [
                        (table.name, column, secret)
                        for secret in secrets
                        if any(form in data for form in forms(secret))
                    ]
    return found


def found_in_text(text: bytes, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if any(form in text for form in forms(secret))]


# The secrets of the contract's samples.
SAMPLE_SECRETS = ["$2b$12$", "First Bank", "account_number_last4"]


def valid() -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of the valid events the corpus goes after: a supplier with the
    samples' own secrets, and the order the corpus cancels with a secret order number."""
    return [
        ("supplier", b"supplier", sample_bytes("supplier.created")),
        ("order", ORDER.encode(), sample_bytes("order.created")),
    ]
