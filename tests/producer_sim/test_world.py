"""The simulated world: deterministic, valid by the contract, and consistent over time."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from analytics.events import EVENT_TYPES, decode_event
from producer_sim import Message, World, generate

ROOT = Path(__file__).resolve().parents[2]
LONG_RUN = 5000


@cache
def long_run(seed: int = 7) -> tuple[Message, ...]:
    return tuple(generate(seed, LONG_RUN))


def envelopes(messages: tuple[Message, ...]) -> Iterator[tuple[Message, dict[str, Any]]]:
    for message in messages:
        yield message, json.loads(message.value)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def digest(messages: Iterator[Message]) -> str:
    hashed = hashlib.sha256()
    for message in messages:
        hashed.update(b"|".join([message.topic.encode(), message.key, message.value]))
    return hashed.hexdigest()


# --- determinism ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_bytes() -> None:
    assert list(generate(42, 500)) == list(generate(42, 500))


def test_different_seeds_give_different_streams() -> None:
    assert digest(generate(1, 200)) != digest(generate(2, 200))


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    assert list(generate(3, 300)) == list(generate(3, 1000))[:300]


def test_the_bytes_do_not_depend_on_string_hashing_or_the_process() -> None:
    script = (
        "from producer_sim import generate; from tests.producer_sim.test_world import digest; "
        "print(digest(generate(11, 800)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert outputs == {digest(generate(11, 800))}


def test_arguments_are_checked_when_called() -> None:
    with pytest.raises(ValueError, match="unknown domain"):
        generate(1, 10, "user,nope")
    with pytest.raises(ValueError, match="no domain"):
        generate(1, 10, frozenset())
    with pytest.raises(ValueError, match="negative"):
        generate(1, -1)


# --- the contract ---------------------------------------------------------------------------


def test_every_message_decodes_and_is_keyed_and_routed_by_its_entity() -> None:
    for message, envelope in envelopes(long_run()):
        event = decode_event(message.value)
        assert event.event_type == message.event_type == envelope["event_type"]
        assert message.topic == message.event_type.split(".")[0]
        assert message.key == event.entity_id.encode()
        assert len(event.entity_id) == 24
        assert int(event.entity_id, 16) >= 0
        assert envelope["timestamp"].endswith("+00:00")
        assert not message.injected


def test_every_event_type_occurs_with_a_realistic_mix() -> None:
    counts = Counter(message.event_type for message in long_run())
    assert set(counts) == set(EVENT_TYPES)
    updates = counts["product.updated"] + counts["order.created"] + counts["post.updated"]
    deletes = sum(count for event_type, count in counts.items() if event_type.endswith("deleted"))
    assert updates > LONG_RUN / 2
    assert deletes < LONG_RUN / 20
    assert counts["supplier.deleted"] < counts["supplier.created"] / 3


def test_event_ids_are_unique_uuid4() -> None:
    ids = [envelope["event_id"] for _message, envelope in envelopes(long_run())]
    assert len(set(ids)) == len(ids)
    assert all(len(event_id) == 36 and event_id[14] == "4" for event_id in ids)


def test_timestamps_start_at_the_fixed_instant_and_strictly_increase() -> None:
    stamps = [instant(envelope["timestamp"]) for _message, envelope in envelopes(long_run())]
    assert stamps[0] > instant("2025-01-15T10:00:00Z")
    assert stamps[0] < instant("2025-01-15T10:01:00Z")
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))


def test_full_documents_carry_what_the_backend_really_sends() -> None:
    seen: dict[str, dict[str, Any]] = {}
    for message, envelope in envelopes(long_run()):
        seen.setdefault(message.event_type, envelope["data"])
        data = envelope["data"]
        if "id" in data:
            assert data["id"] == envelope["entity_id"]
            assert data["updated_at"].endswith("Z")
            assert instant(data["updated_at"]) == instant(envelope["timestamp"])
            assert "revision_id" in data
    assert {"password_hash", "contact_info", "profile"} <= set(seen["user.created"])
    assert "date_of_birth" in seen["user.updated"]["profile"]
    assert "additional_emails" in seen["user.updated"]["contact_info"]
    supplier = seen["supplier.created"]
    assert {"password_hash", "banking_info", "product_ids"} <= set(supplier)
    assert {"topic_descriptions", "stock_locations", "variants"} <= set(seen["product.created"])
    assert set(seen["user.deleted"]) == {"user_id"}
    assert set(seen["supplier.deleted"]) == {"supplier_id"}
    assert set(seen["product.deleted"]) == {"product_id"}
    assert set(seen["post.deleted"]) == {"post_id"}
    assert set(seen["order.cancelled"]) == {"order_number"}


def test_text_includes_accents_and_4_byte_characters() -> None:
    text = b"".join(message.value for message in long_run()).decode()
    assert any(ord(character) > 0xFFFF for character in text)
    assert any(character in text for character in "éëøñł")


def test_domains_filter_the_topics_of_the_same_world() -> None:
    chosen = list(generate(5, 300, "user,order"))
    assert len(chosen) == 300
    assert {message.topic for message in chosen} == {"user", "order"}
    full = [m for m in generate(5, 3000) if m.topic in ("user", "order")]
    assert chosen == full[:300]


# --- consistency over time ------------------------------------------------------------------


class Timeline:
    """Replays a clean stream and fails on anything the backend would never emit."""

    def __init__(self) -> None:
        self.created: dict[str, set[str]] = defaultdict(set)
        self.deleted: dict[str, set[str]] = defaultdict(set)
        self.products: dict[str, dict[str, Any]] = {}
        self.supplier_of: dict[str, str] = {}
        self.order_numbers: dict[str, str] = {}
        self.order_status: dict[str, str] = {}
        self.cancelled: set[str] = set()
        self.variant_sets: dict[str, set[frozenset[str]]] = defaultdict(set)

    def live(self, topic: str, entity_id: str) -> bool:
        return entity_id in self.created[topic] and entity_id not in self.deleted[topic]

    def check(self, message: Message, envelope: dict[str, Any]) -> None:
        topic, action = message.event_type.split(".")
        entity_id, data = envelope["entity_id"], envelope["data"]
        assert entity_id not in self.deleted[topic], f"{message.event_type} after the delete"
        assert entity_id not in self.cancelled, "an event for a cancelled order"
        if action == "created" and entity_id not in self.created[topic]:
            self.created[topic].add(entity_id)
        else:
            assert entity_id in self.created[topic], f"{message.event_type} before created"
        if action == "deleted":
            self.deleted[topic].add(entity_id)
        getattr(self, f"_{topic}", lambda *_: None)(action, entity_id, data)

    def _product(self, action: str, entity_id: str, data: dict[str, Any]) -> None:
        if action == "deleted":
            del self.products[entity_id]
            return
        assert self.live("supplier", data["supplier_id"]), "product of an unknown supplier"
        self.products[entity_id] = data
        self.supplier_of[entity_id] = data["supplier_id"]
        self.variant_sets[entity_id].add(frozenset(data["variants"]))
        assert data["variants"], "a product without variants"
        if action == "created":
            assert data["status"] == "draft"
            assert data["published_at"] is None
        if action == "published":
            assert data["status"] == "active"
            assert data["published_at"] is not None
        if action == "restored":
            assert data["status"] == ("active" if data["published_at"] else "draft")

    def _supplier(self, action: str, entity_id: str, data: dict[str, Any]) -> None:
        if action == "deleted":
            owned = [p for p in self.products if self.supplier_of[p] == entity_id]
            assert not owned, "a supplier deleted with live products"

    def _post(self, action: str, entity_id: str, data: dict[str, Any]) -> None:
        if action == "created":
            assert self.live("user", data["author"]["user_id"]), "post by an unknown user"
            assert data["published_at"] is None, "posts start as drafts"
        elif action != "deleted":
            assert self.live("user", data["author"]["user_id"]), "post edited after author left"
        if action == "published":
            assert data["published_at"] is not None

    def _order(self, action: str, entity_id: str, data: dict[str, Any]) -> None:
        if action == "cancelled":
            assert self.order_numbers[entity_id] == data["order_number"]
            assert self.order_status[entity_id] in ("pending", "processing")
            self.cancelled.add(entity_id)
            return
        first = entity_id not in self.order_numbers
        if first:
            assert data["order_number"] not in self.order_numbers.values()
            assert self.live("user", data["customer"]["user_id"]), "order by an unknown user"
            assert data["status"] == "pending"
        else:
            assert self.order_numbers[entity_id] == data["order_number"]
            steps = ["pending", "processing", "shipped", "delivered"]
            assert steps.index(data["status"]) == steps.index(self.order_status[entity_id]) + 1
        self.order_numbers[entity_id] = data["order_number"]
        self.order_status[entity_id] = data["status"]
        assert 1 <= len(data["items"]) <= 4
        for item in data["items"]:
            snapshot = item["product_snapshot"]
            product = self.products.get(snapshot["product_id"])
            assert product is not None, "an order refers to a deleted or unknown product"
            assert snapshot["supplier_id"] == product["supplier_id"]
            assert item["final_price_cents"] == item["unit_price_cents"] * item["quantity"]
            assert item["total_cents"] == item["final_price_cents"]
            if first:
                assert product["status"] == "active"
                assert product["published_at"] is not None
                variant = product["variants"][snapshot["variant_name"]]
                assert item["unit_price_cents"] == variant["price_cents"]
            if data["status"] in ("shipped", "delivered"):
                assert item["tracking_number"]
                assert item["carrier"]
                assert item["shipped_at"]
                assert item["shipped_quantity"] == item["quantity"]


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_the_world_stays_consistent(seed: int) -> None:
    timeline = Timeline()
    for message, envelope in envelopes(long_run(seed)):
        timeline.check(message, envelope)
    assert timeline.cancelled, "some orders are cancelled"
    assert any(len(sets) > 1 for sets in timeline.variant_sets.values()), "variants change"
    statuses = Counter(timeline.order_status.values())
    assert statuses["delivered"] > 0


def test_the_world_step_by_step() -> None:
    world = World(1)
    first = [world.step() for _ in range(20)]
    assert first == list(generate(1, 20))
    assert first[0].event_type in ("user.created", "supplier.created")
