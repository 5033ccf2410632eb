"""`analytics dlq`'s table of letters (listing and replay are tested in tests/test_dlq.py)."""

from __future__ import annotations

from datetime import datetime

import pytest

from analytics.cli.deadletters import letters_table
from analytics.dlq import DeadLetterRecord
from tests.terminal import WIDTHS, assert_readable

WHEN = datetime(2025, 1, 15, 10, 42, 7)


def letter(
    number: int, topic: str, event_type: str | None, error: str, reason: str
) -> DeadLetterRecord:
    return DeadLetterRecord(
        id=number,
        topic=topic,
        partition=11,
        offset=1_234_567,
        event_type=event_type,
        event_id=None,
        entity_id=None,
        error_class=error,
        reason=reason,
        first_failed_at=WHEN,
        last_failed_at=WHEN,
        status="pending",
        replayed_at=None,
    )


LETTERS = [
    letter(
        10_001,
        "product",
        "product.out_of_stock",
        "entity_mismatch",
        "product.out_of_stock: (event): data.id 2464cac95b952d7601caf41d does not match"
        " entity_id da3416532bf998adc92aeb0c",
    ),
    letter(7, "file:events/2025-01-15.jsonl", None, "undecodable", "not UTF-8 JSON: Invalid JSON"),
    letter(
        8,
        "supplier",
        "supplier.updated",
        "unknown_event_type",
        "supplier.updated: data.contact_info.primary_phone: Input should be a valid string",
    ),
]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_letter_is_readable(width: int) -> None:
    values = [
        text
        for record in LETTERS
        for text in (
            f"#{record.id}",
            record.status,
            record.event_type or "—",
            record.error_class,
            record.reason,
            "2025-01-15",
            "10:42:07",
            "[11] @1234567",
        )
    ]
    assert_readable(letters_table("3 dead letters", LETTERS), width, values)
