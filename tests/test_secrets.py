"""Secret field names match in any case and style; reasons show identifiers, nothing else."""

from __future__ import annotations

import pytest

from analytics.secrets import (
    DEFAULT_SECRETS,
    assigns_secret,
    is_secret_key,
    mentions_secret,
    secret_names,
    shown,
    shown_server_message,
)


@pytest.mark.parametrize(
    "key",
    [
        "password_hash",
        "passwordHash",
        "PASSWORD_HASH",
        "Password-Hash",
        "password hash",
        "ＰＡＳＳＷＯＲＤ",
    ],
)
def test_secret_keys_match_in_any_case_and_style(key: str) -> None:
    assert is_secret_key(key, DEFAULT_SECRETS)


@pytest.mark.parametrize("key", ["password_hash_algorithm", "display_name", "id", "secrets"])
def test_other_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key, DEFAULT_SECRETS)


def test_names_are_configured_as_plain_strings() -> None:
    assert secret_names(["PIN-Code", "pin_code"]) == frozenset({"pincode"})
    with pytest.raises(ValueError, match="letters or digits"):
        secret_names(["__"])
    with pytest.raises(ValueError, match="at least one"):
        secret_names([])


@pytest.mark.parametrize(
    "text",
    [
        b"password_hash",
        "api_key".encode("utf-16-le"),
        "BANKING_INFO".encode("utf-16"),
        b"\\u0070assword",
        b"pass\\x77ord",
        b"p%61ssword",
        b"p%2561ssword",
        b"refresh-token",
        "ＰＡＳＳＷＯＲＤ=hunter2".encode(),
        "api\u00adkey".encode(),
    ],
)
def test_a_secret_name_is_found_however_it_is_spelled(text: bytes) -> None:
    assert mentions_secret(text, DEFAULT_SECRETS)


def test_text_without_a_secret_name_mentions_none() -> None:
    assert not mentions_secret(b'{"display_name": "Ravi", "bio": "passe-partout"}', DEFAULT_SECRETS)


@pytest.mark.parametrize(
    "text",
    [
        "{'password_hash': 'x'}",
        '{"passwordHash":"x"}',
        "login=bob password=hunter2",
        "https://cdn.example.com/a.png?access_token=abc",
        "API-KEY : abc",
        "user.password:abc",
    ],
)
def test_text_that_sets_a_secret_is_recognised(text: str) -> None:
    assert assigns_secret(text, DEFAULT_SECRETS)


@pytest.mark.parametrize(
    "text", ["Forgot your password? Reset it.", "secret garden", "password_hash", "12:30"]
)
def test_text_that_only_names_a_secret_sets_none(text: str) -> None:
    assert not assigns_secret(text, DEFAULT_SECRETS)


@pytest.mark.parametrize(
    "value",
    [
        "user.created",
        "ec99108ddb5b5fab8f4d3e27",
        "78511608-0d65-4372-a907-94dfed52a241",
        "ORD-20250115-D575",
        "file:day1/events.jsonl",
        "a" * 64,
        7,
    ],
)
def test_identifiers_are_shown_as_they_are(value: object) -> None:
    assert shown(value, DEFAULT_SECRETS) == str(value)


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("a" * 65, "<65 characters>"),
        ("two words", "<9 characters>"),
        ("user.password", "<13 characters>"),
        ("api_key=abc", "<11 characters>"),
        ("user.PasswordHash:x", "<19 characters>"),
        ("x'y", "<3 characters>"),
        ("\ud800", "<1 characters>"),
        ("", "<0 characters>"),
        ({"nested": 1}, "<13 characters>"),
    ],
)
def test_anything_else_is_shown_as_its_length(value: object, placeholder: str) -> None:
    assert shown(value, DEFAULT_SECRETS) == placeholder


def test_configured_names_are_never_shown() -> None:
    pins = secret_names(["pin_code"])
    assert shown("pin-code:1234", pins) == "<13 characters>"
    assert shown("pin-code:1234", DEFAULT_SECRETS) == "pin-code:1234"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Duplicate entry 'ORD-1' for key 'uq_order_number'",
            "Duplicate entry ORD-1 for key 'uq_order_number'",
        ),
        (
            "Duplicate entry 'password=x' for key 'PRIMARY'",
            "Duplicate entry <10 characters> for key 'PRIMARY'",
        ),
        (
            "Duplicate entry 'x'password=hunter2'y' for key 'PRIMARY'",
            "Duplicate entry <20 characters> for key 'PRIMARY'",
        ),
        (
            "Incorrect string value: '\\xF0\\x9F\\x98' for column `a`.`users`.`bio` at row 1",
            "Incorrect string value: <12 characters> for column `a`.`users`.`bio` at row 1",
        ),
        ("Data too long for column 'display_name' at row 1", None),
        ("CONSTRAINT `products.variants` failed for `analytics`.`products`", None),
        ("UNIQUE constraint failed: orders.order_number", None),
        ("Unknown problem near 'a b' and 'c'", "Unknown problem near <13 characters>"),
        ("Odd quote 'abc", "Odd quote <4 characters>"),
    ],
)
def test_server_messages_keep_names_and_show_values_as_identifiers(
    message: str, expected: str | None
) -> None:
    assert shown_server_message(message, DEFAULT_SECRETS) == (expected or message)
