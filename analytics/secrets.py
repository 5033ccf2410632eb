"""Secret fields: which names they go by, and the checks that keep their values out of dead
letters, reasons and logs.

A name is compared in its normalized form (NFKC, lower case, letters and digits only), so
that `password_hash`, `passwordHash` and `PASSWORD-HASH` are one name. The names are plain
data, configured once (`ANALYTICS_SECRET_FIELDS`) and passed to whatever needs them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import NewType

DEFAULT_SECRET_FIELDS = (
    "password_hash",
    "password",
    "banking_info",
    "secret",
    "api_key",
    "access_token",
    "refresh_token",
)

SecretNames = NewType("SecretNames", frozenset[str])

IDENTIFIER_LIMIT = 64
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:@/-]+")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
_NOT_NAME_OR_ASSIGNMENT = re.compile(r"[^a-z0-9:=]+")
# \u0070, \x70 and %70 spell "p" to a reader: undone before a text is searched for names.
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|%([0-9a-fA-F]{2})")
_UNESCAPE_ROUNDS = 3


def normalized(name: str) -> str:
    return _NOT_NAME.sub("", unicodedata.normalize("NFKC", name).lower())


def secret_names(fields: Iterable[str]) -> SecretNames:
    """The normalized names of `fields`; refuses a name with no letter or digit."""
    names = set()
    for field in fields:
        name = normalized(field)
        if not name:
            raise ValueError(f"{field!r} has no letters or digits to match field names by")
        names.add(name)
    if not names:
        raise ValueError("at least one secret field is needed")
    return SecretNames(frozenset(names))


DEFAULT_SECRETS = secret_names(DEFAULT_SECRET_FIELDS)


def is_secret_key(key: str, secrets: SecretNames) -> bool:
    return normalized(key) in secrets


def mentions_secret(text: str | bytes, secrets: SecretNames) -> bool:
    """Whether a secret name appears anywhere in `text`, read as loosely as possible.

    Bytes are read as UTF-8 (whatever of them is) and one character per byte, so that any
    encoding of an ASCII name is found too (UTF-16: its zero bytes are dropped with the
    rest of the punctuation).
    """
    readings: list[str | bytes] = [text]
    if isinstance(text, bytes):
        readings.append(text.decode("utf-8", "ignore"))
    squeezed = [_NOT_NAME.sub("", _readable(reading)) for reading in readings]
    return any(name in reading for reading in squeezed for name in secrets)


def assigns_secret(text: str, secrets: SecretNames) -> bool:
    """Whether `text` looks like it sets a secret: a secret name followed by `:` or `=`
    once everything else but letters and digits is dropped (`"password_hash": "…"`,
    `{'api_key': …}`, `?access_token=…`)."""
    squeezed = _NOT_NAME_OR_ASSIGNMENT.sub("", _readable(text))
    return any(f"{name}:" in squeezed or f"{name}=" in squeezed for name in secrets)


def _readable(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    for _ in range(_UNESCAPE_ROUNDS):
        unescaped = _ESCAPE.sub(_unescaped, text)
        if unescaped == text:
            break
        text = unescaped
    return unicodedata.normalize("NFKC", text).lower()


def _unescaped(match: re.Match[str]) -> str:
    return chr(int(next(group for group in match.groups() if group is not None), 16))


def shown(value: object, secrets: SecretNames) -> str:
    """`value` as a reason or a log line may show it: an identifier (at most 64 characters
    of letters, digits and `_.:@/-`, naming no secret field) as it is, anything else as a
    placeholder that gives only its length."""
    text = value if isinstance(value, str) else str(value)
    if is_identifier(text, secrets):
        return text
    return f"<{len(text)} characters>"


def is_identifier(text: str, secrets: SecretNames) -> bool:
    return (
        len(text) <= IDENTIFIER_LIMIT
        and _IDENTIFIER.fullmatch(text) is not None
        and not mentions_secret(text, secrets)
    )


# Server messages that quote a value of the row, which may itself hold quotes: the value
# runs to the last occurrence of the text that follows it.
_VALUE_MESSAGES = (
    re.compile(r"(Duplicate entry )'(.*)'( for key .*)", re.DOTALL),
    re.compile(r"(Incorrect \w+ value: )'(.*)'( for column .*)", re.DOTALL),
)
_QUOTE = re.compile(r"""['"`]""")


def shown_server_message(message: str, secrets: SecretNames) -> str:
    """A database server's error message with the values it quotes passed through `shown`.

    Column and key names are identifiers and stay. A message whose quotes cannot be told
    apart (a value holding a quote) is cut at its first quote.
    """
    for pattern in _VALUE_MESSAGES:
        match = pattern.fullmatch(message)
        if match is not None:
            head, value, tail = match.groups()
            return head + shown(value, secrets) + _quoted_identifiers_only(tail, secrets)
    return _quoted_identifiers_only(message, secrets)


def _quoted_identifiers_only(text: str, secrets: SecretNames) -> str:
    parts = _QUOTE.split(text)
    quoted = parts[1::2]
    if len(parts) % 2 == 1 and all(is_identifier(part, secrets) for part in quoted):
        return text
    return parts[0] + shown(text[len(parts[0]) :], secrets)
