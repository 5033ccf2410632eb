"""Service settings: environment variables (ANALYTICS_*), overridable by command-line flags.

pydantic-settings parses and validates them at start-up, so a wrong value stops the
service with a message naming the variable instead of failing later.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from analytics.db import DEFAULT_DATABASE_URL, supported_url
from analytics.events import FIELD_NAMES, TOPICS
from analytics.secrets import DEFAULT_SECRET_FIELDS, SecretNames, normalized, secret_names

DEFAULT_GROUP_ID = "mysql-analytics-service"
_READ_NAMES = frozenset(normalized(name) for name in FIELD_NAMES)


class SecretSettings(BaseSettings):
    """The secret fields, which every command that writes dead letters needs."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    secret_fields: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_SECRET_FIELDS,
        description="Secret field names (comma-separated), matched ignoring case and style",
    )

    @field_validator("secret_fields", mode="before")
    @classmethod
    def _split_secret_fields(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(field.strip() for field in value.split(",") if field.strip())
        return value

    @field_validator("secret_fields")
    @classmethod
    def _secret_fields_are_not_read(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        secret_names(value)  # refuses an empty list, or a name without letters or digits
        read = sorted(field for field in value if normalized(field) in _READ_NAMES)
        if read:
            raise ValueError(
                f"{read} would redact fields the events are read from, and a replayed dead "
                "letter would no longer apply as its message"
            )
        return value

    @property
    def secret_names(self) -> SecretNames:
        return secret_names(self.secret_fields)


class ConsumerSettings(SecretSettings):
    """Everything `analytics consume` needs. Each field is read from ANALYTICS_<NAME>."""

    bootstrap_servers: str = Field("localhost:9092", description="Kafka bootstrap servers")
    group_id: str = Field(DEFAULT_GROUP_ID, min_length=1, description="Kafka consumer group")
    group_instance_id: str = Field(
        "",
        max_length=249,
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Kafka group.instance.id (static membership), unique per instance: a "
        "restart within the session timeout keeps its partitions without a rebalance; "
        "empty = dynamic membership",
    )
    topics: Annotated[tuple[str, ...], NoDecode] = Field(
        TOPICS, description="Topics to consume (comma-separated)"
    )
    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy database URL")
    batch_size: int = Field(5000, ge=1, le=100_000, description="Most messages per transaction")
    batch_max_seconds: float = Field(
        1.0, gt=0, le=60, description="Longest wait to fill a batch before applying it"
    )
    batch_target_seconds: float = Field(
        0.5,
        ge=0,
        le=600,
        description="Write time a batch aims at: batches that take longer shrink the next "
        "ones (down to 100 messages), fast full ones let them grow back to batch_size; "
        "0 = always batch_size",
    )
    retry_initial_seconds: float = Field(
        0.5, gt=0, le=60, description="First wait after a transient error"
    )
    retry_max_seconds: float = Field(
        30.0, gt=0, le=600, description="Longest wait between retries (capped exponential)"
    )
    retry_max_attempts: int = Field(
        0,
        ge=0,
        description="Give up (exit non-zero) after this many retries of one batch; 0 = never",
    )
    dead_letter_max_ratio: float = Field(
        0.9, gt=0, le=1, description="Stop when more than this share of recent messages failed"
    )
    dead_letter_window: int = Field(
        1000, ge=1, description="How many recent messages the dead-letter ratio looks at"
    )
    max_future_skew_seconds: float = Field(
        3600.0,
        gt=0,
        description="Dead-letter events stamped more than this far ahead of this clock",
    )
    database_connect_timeout_seconds: int = Field(
        10, ge=1, le=3600, description="Longest wait for a database connection to open"
    )
    database_read_timeout_seconds: int = Field(
        60,
        ge=1,
        le=86_400,
        description="Longest wait for the database's answer to one statement (then retried)",
    )
    database_write_timeout_seconds: int = Field(
        60, ge=1, le=86_400, description="Longest wait to send one statement to the database"
    )
    # Below the time orchestrators wait before SIGKILL (Docker 10 s, Kubernetes 30 s), and
    # far above a healthy batch's write (well under a second).
    shutdown_grace_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="After SIGTERM, how long the batch being written may take to commit "
        "before it is abandoned uncommitted; on a rebalance, how long the partitions wait "
        "for it before they go",
    )
    permanent_error_retry_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="How long a permanent database error (credentials, privileges, schema) "
        "is retried before the service stops; at start, an unreachable database too",
    )
    session_timeout_ms: int = Field(45_000, ge=1000, description="Kafka consumer session timeout")
    max_poll_interval_ms: int = Field(300_000, ge=1000, description="Kafka max.poll.interval.ms")
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="Port of /metrics and /health (0 = disabled)"
    )
    metrics_host: str = Field("0.0.0.0", description="Address the metrics server listens on")
    stuck_after_seconds: float = Field(
        120.0, gt=0, description="/health reports unhealthy after this long without progress"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR"
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json, console, or auto: console in a terminal, JSON otherwise"
    )

    @field_validator("topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(topic.strip() for topic in value.split(",") if topic.strip())
        return value

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one topic is needed")
        unknown = sorted(set(value) - set(TOPICS))
        if unknown:
            raise ValueError(f"unknown topics {unknown}; the topics are {', '.join(TOPICS)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        supported_url(value)  # its error names what is supported, never the URL
        return value

    @model_validator(mode="after")
    def _backoff_is_ordered(self) -> ConsumerSettings:
        if self.retry_max_seconds < self.retry_initial_seconds:
            raise ValueError("retry_max_seconds must be at least retry_initial_seconds")
        return self
