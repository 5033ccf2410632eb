"""A deterministic traffic simulator: the platform's Kafka events, as its backend emits them.

`generate(seed, count)` yields clean messages from a consistent simulated world;
`inject_faults(...)` layers duplicates, stale re-sends and poison over them; `sinks` writes
them to JSON lines or to Kafka.
"""

from __future__ import annotations

from analytics.events import EVENT_TYPES, TOPICS
from producer_sim.faults import PoisonMaker, inject_faults
from producer_sim.message import Message, PoisonKind, Resend
from producer_sim.world import World, generate, parse_domains, recent_start

__all__ = [
    "EVENT_TYPES",
    "TOPICS",
    "Message",
    "PoisonKind",
    "PoisonMaker",
    "Resend",
    "World",
    "generate",
    "inject_faults",
    "parse_domains",
    "recent_start",
]
