"""An embedded Kafka broker: librdkafka's mock cluster, shipped inside the confluent-kafka wheel.

It speaks the real Kafka protocol over TCP on 127.0.0.1 (producers, consumer groups,
rebalances, offset commits), so any Kafka client can use it. It lives in this process's
memory: everything is gone when the process ends, and each partition keeps only about
5 MB of recent messages, so producers must not run far ahead of consumers. It is for the
demo and the tests; production runs against a real Kafka cluster.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import confluent_kafka

from analytics.events import TOPICS

_PRODUCER = 0
_ERRSTR_SIZE = 512


def _load_librdkafka() -> ctypes.CDLL:
    """The librdkafka that confluent-kafka itself loaded (the wheel bundles its own copy)."""
    package = Path(confluent_kafka.__file__).resolve().parent
    candidates = sorted(package.parent.glob("confluent_kafka*libs/librdkafka*")) + sorted(
        package.parent.glob("confluent_kafka/.dylibs/librdkafka*")
    )
    path = str(candidates[0]) if candidates else ctypes.util.find_library("rdkafka")
    if path is None:
        raise RuntimeError("librdkafka not found next to confluent_kafka")
    library = ctypes.CDLL(path)
    _declare(library)
    return library


def _declare(library: ctypes.CDLL) -> None:
    pointer, text, number = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[list[type], type | None]] = {
        "rd_kafka_conf_new": ([], pointer),
        "rd_kafka_conf_set": ([pointer, text, text, text, ctypes.c_size_t], number),
        "rd_kafka_new": ([number, pointer, text, ctypes.c_size_t], pointer),
        "rd_kafka_destroy": ([pointer], None),
        "rd_kafka_mock_cluster_new": ([pointer, number], pointer),
        "rd_kafka_mock_cluster_destroy": ([pointer], None),
        "rd_kafka_mock_cluster_bootstraps": ([pointer], text),
        "rd_kafka_mock_topic_create": ([pointer, text, number, number], number),
        "rd_kafka_mock_broker_set_down": ([pointer, number], number),
        "rd_kafka_mock_broker_set_up": ([pointer, number], number),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": ([pointer, number], None),
        "rd_kafka_err2str": ([number], text),
    }
    for name, (arguments, result) in signatures.items():
        function = getattr(library, name)
        function.argtypes = arguments
        function.restype = result


class EmbeddedBroker:
    """A running mock cluster; use as a context manager or call close()."""

    def __init__(
        self,
        brokers: int = 1,
        partitions: int = 3,
        topics: Iterable[str] = TOPICS,
        rebalance_delay_ms: int = 3000,
    ) -> None:
        self._lib = _load_librdkafka()
        errors = ctypes.create_string_buffer(_ERRSTR_SIZE)
        conf = self._lib.rd_kafka_conf_new()
        # The handle that owns the cluster never talks to it; keep it quiet.
        self._lib.rd_kafka_conf_set(conf, b"log_level", b"0", errors, _ERRSTR_SIZE)
        self._handle = self._lib.rd_kafka_new(_PRODUCER, conf, errors, _ERRSTR_SIZE)
        if not self._handle:
            raise RuntimeError(f"cannot start librdkafka: {errors.value.decode()}")
        self._cluster = self._lib.rd_kafka_mock_cluster_new(self._handle, brokers)
        if not self._cluster:
            self._lib.rd_kafka_destroy(self._handle)
            raise RuntimeError("cannot start the mock Kafka cluster")
        # How long a new group waits for more members before its first assignment.
        self._lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._cluster, rebalance_delay_ms)
        self.bootstrap_servers: str = self._lib.rd_kafka_mock_cluster_bootstraps(
            self._cluster
        ).decode()
        for topic in topics:
            self.create_topic(topic, partitions)

    def create_topic(self, name: str, partitions: int) -> None:
        error = self._lib.rd_kafka_mock_topic_create(self._cluster, name.encode(), partitions, 1)
        if error:
            message = self._lib.rd_kafka_err2str(error).decode()
            raise RuntimeError(f"cannot create topic {name!r}: {message}")

    def set_broker_up(self, broker_id: int, up: bool) -> None:
        """Take a broker off the network (connections refused) or bring it back."""
        change = (
            self._lib.rd_kafka_mock_broker_set_up if up else self._lib.rd_kafka_mock_broker_set_down
        )
        change(self._cluster, broker_id)

    def close(self) -> None:
        if self._cluster:
            self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
            self._cluster = None
        if self._handle:
            self._lib.rd_kafka_destroy(self._handle)
            self._handle = None

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class PortForward:
    """Accepts connections on 127.0.0.1:`port` and pipes each to `target` (host:port).

    The mock cluster listens on ports of its own choosing; a fixed bootstrap address is
    this forwarder's. Clients bootstrap through it and then reach the brokers at the
    addresses the cluster advertises, as with any Kafka.
    """

    def __init__(self, port: int, target: str) -> None:
        host, _, target_port = target.rpartition(":")
        self._target = (host, int(target_port))
        self._server = socket.create_server(("127.0.0.1", port))
        self.address = f"127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, name="port-forward", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._server.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until either side closes, then close both (which ends the other pipe)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        source.close()
        sink.close()
