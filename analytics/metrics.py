"""Prometheus metrics and the /health endpoint of the consumer service."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BATCH_SIZES = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000)
# The *_created series only repeat the process start time.
disable_created_metrics()  # type: ignore[no-untyped-call]

APPLY_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The service's metrics, in a registry of their own (one per service instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_applied = Counter(
            "analytics_events_applied",
            "Events that changed the read model",
            ["event_type"],
            registry=r,
        )
        self.events_stale = Counter(
            "analytics_events_stale", "Events skipped as older than the stored row", registry=r
        )
        self.dead_letters = Counter(
            "analytics_dead_letters", "Messages recorded as dead letters", ["reason"], registry=r
        )
        self.batch_size = Histogram(
            "analytics_batch_size", "Messages per applied batch", buckets=BATCH_SIZES, registry=r
        )
        self.batch_limit = Gauge(
            "analytics_batch_limit",
            "Most messages the next batch may hold (batch_size, less while writes are slow)",
            registry=r,
        )
        self.apply_seconds = Histogram(
            "analytics_batch_apply_seconds",
            "Time to apply and commit one batch",
            buckets=APPLY_SECONDS,
            registry=r,
        )
        self.retries = Counter(
            "analytics_retries",
            "Batch attempts retried after a transient error",
            ["cause"],
            registry=r,
        )
        self.lag = Gauge(
            "analytics_consumer_lag",
            "Messages behind the partition's end",
            ["topic", "partition"],
            registry=r,
        )
        self.committed_offset = Gauge(
            "analytics_last_committed_offset",
            "Last offset committed to Kafka (next offset to read)",
            ["topic", "partition"],
            registry=r,
        )
        self.brokers_up = Gauge(
            "analytics_kafka_brokers_up",
            "Kafka brokers the consumer is connected to (0: Kafka unreachable)",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "analytics_assigned_partitions",
            "Partitions assigned to this consumer by its group",
            registry=r,
        )
        self.healthy = Gauge("analytics_healthy", "1 when /health answers 200, else 0", registry=r)
        self.event_time_lag = Gauge(
            "analytics_event_time_lag_seconds",
            "Now minus the timestamp of the newest event applied, per topic",
            ["topic"],
            registry=r,
        )
        self._newest_event_time: dict[str, datetime] = {}

    def watch(self, health: Health) -> None:
        """analytics_healthy reports what /health would answer at scrape time."""
        self.healthy.set_function(lambda: float(health.report()[0]))

    def applied_event_time(self, topic: str, stamp: datetime) -> None:
        """Record that an event of `topic` stamped `stamp` (naive UTC) was applied. The lag is
        computed when scraped, so that it grows while nothing newer is applied."""
        if topic not in self._newest_event_time:
            self.event_time_lag.labels(topic).set_function(partial(self._lag, topic))
        self._newest_event_time[topic] = max(stamp, self._newest_event_time.get(topic, stamp))

    def event_time_lag_seconds(self, topic: str) -> float | None:
        """The lag the metric shows for `topic`; None before any event of it was applied."""
        return self._lag(topic) if topic in self._newest_event_time else None

    def _lag(self, topic: str) -> float:
        newest = self._newest_event_time[topic]
        return (datetime.now(UTC).replace(tzinfo=None) - newest).total_seconds()


@dataclass
class Health:
    """Liveness as the consumer reports it: progress ticks and what is wrong with the
    database or Kafka, in words that name the cause ("permission denied: ...")."""

    stuck_after_seconds: float
    last_progress: float = field(default_factory=time.monotonic)
    database_error: str | None = None
    kafka_error: str | None = None  # why no progress can be made while it lasts
    lock: threading.Lock = field(default_factory=threading.Lock)

    def progressed(self) -> None:
        with self.lock:
            self.last_progress = time.monotonic()

    def database_failed(self, problem: str | None) -> None:
        with self.lock:
            self.database_error = problem

    def kafka_failed(self, problem: str | None) -> None:
        with self.lock:
            self.kafka_error = problem

    def report(self) -> tuple[bool, dict[str, object]]:
        with self.lock:
            idle = time.monotonic() - self.last_progress
            problems = []
            if idle > self.stuck_after_seconds:
                cause = f": {self.kafka_error}" if self.kafka_error else ""
                problems.append(f"no progress for {idle:.0f}s{cause}")
            if self.database_error is not None:
                problems.append(self.database_error)
        return not problems, {"healthy": not problems, "problems": problems}


def serve(metrics: Metrics, health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Serve /metrics and /health on a daemon thread; returns the server (for shutdown)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            elif self.path == "/health":
                healthy, body = health.report()
                self._send(200 if healthy else 503, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the service's own logs

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
