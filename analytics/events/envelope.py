"""The envelope every event arrives in, and the check that a snapshot describes its entity."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from analytics.events.fields import Key24, Key36, Model, UtcDateTime

ENTITY_MISMATCH = "data.id {document_id} does not match entity_id {entity_id}"


class Envelope(Model):
    event_id: Key36
    timestamp: UtcDateTime
    entity_id: Key24


class SnapshotDocument(Model):
    """A full document as the backend dumps it; `id` repeats the envelope's entity_id."""

    id: Any = None


class SnapshotEnvelope(Envelope):
    """An event carrying a full document: its `data.id`, when present, must be `entity_id`.

    A document that names another entity would overwrite the wrong row, so it is refused.
    """

    data: SnapshotDocument

    @model_validator(mode="after")
    def _document_describes_entity(self) -> SnapshotEnvelope:
        document_id = self.data.id
        if document_id is not None and document_id != self.entity_id:
            # The values are shown in reasons only as `decode_event` renders them.
            raise PydanticCustomError(
                "entity_mismatch",
                ENTITY_MISMATCH,
                {"document_id": str(document_id), "entity_id": self.entity_id},
            )
        return self
