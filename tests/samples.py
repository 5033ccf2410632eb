"""The real-shaped sample events of the contract, as bytes and as decoded events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analytics.events import Event, decode_event

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "samples"


def sample_bytes(event_type: str) -> bytes:
    return (SAMPLES / f"{event_type}.json").read_bytes()


def sample_dict(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sample_bytes(event_type))
    return loaded


def sample_event(event_type: str) -> Event:
    return decode_event(sample_bytes(event_type))


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False).encode()


def event_from(envelope: dict[str, Any]) -> Event:
    return decode_event(encode(envelope))


def all_sample_types() -> list[str]:
    return sorted(path.stem for path in SAMPLES.glob("*.json"))
