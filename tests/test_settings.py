"""Service settings come from the environment, are validated, and name what is wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from analytics.events import TOPICS
from analytics.secrets import DEFAULT_SECRET_FIELDS, DEFAULT_SECRETS
from analytics.settings import DEFAULT_GROUP_ID, ConsumerSettings, SecretSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANALYTICS_DATABASE_URL", raising=False)
    settings = ConsumerSettings()
    assert settings.group_id == DEFAULT_GROUP_ID == "mysql-analytics-service"
    assert settings.topics == TOPICS
    assert settings.database_url == "sqlite:///analytics-data/analytics.db"


def test_environment_is_read_and_topics_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANALYTICS_TOPICS", " user , order ")
    monkeypatch.setenv("ANALYTICS_BATCH_SIZE", "250")
    monkeypatch.setenv("ANALYTICS_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    settings = ConsumerSettings()
    assert settings.topics == ("user", "order")
    assert settings.batch_size == 250
    assert settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"topics": "user,users"}, "users"),
        ({"topics": ""}, "topics"),
        ({"log_format": "xml"}, "log_format"),
        ({"retry_initial_seconds": 5, "retry_max_seconds": 1}, "retry_max_seconds"),
        ({"dead_letter_max_ratio": 1.5}, "dead_letter_max_ratio"),
        ({"metrics_port": 70000}, "metrics_port"),
        ({"group_instance_id": "pod 0"}, "group_instance_id"),
        ({"group_instance_id": "x" * 250}, "group_instance_id"),
    ],
)
def test_invalid_values_are_refused_by_name(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        ConsumerSettings(**overrides)  # type: ignore[arg-type]


def test_secret_fields_default_to_the_contract_s_secrets_and_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ConsumerSettings().secret_fields == DEFAULT_SECRET_FIELDS
    assert ConsumerSettings().secret_names == DEFAULT_SECRETS
    monkeypatch.setenv("ANALYTICS_SECRET_FIELDS", " password_hash , PIN-Code ")
    settings = ConsumerSettings()
    assert settings.secret_fields == ("password_hash", "PIN-Code")
    assert settings.secret_names == frozenset({"passwordhash", "pincode"})
    assert SecretSettings().secret_names == settings.secret_names


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ("", "at least one"),
        ("password,--", "letters or digits"),
        ("password,Display-Name", "Display-Name"),
        ("order_number", "replayed dead letter"),
    ],
)
def test_secret_fields_that_are_empty_or_read_by_the_events_are_refused(
    fields: str, named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        SecretSettings(secret_fields=fields)
