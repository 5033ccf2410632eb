"""user.* events → `users` rows."""

from __future__ import annotations

from analytics.events.user import UserDeleted, UserSnapshot
from analytics.mapping.ops import Change, Kind, Patch, Upsert, columns_except, event_columns
from analytics.schema import users

UPDATABLE = columns_except(users, "user_id", "created_at")


def map_snapshot(event: UserSnapshot) -> Change:
    data = event.data
    row = {
        "user_id": event.entity_id,
        "email": data.contact_info.primary_email,
        "phone": data.contact_info.phone,
        "display_name": data.profile.display_name,
        "avatar": data.profile.avatar,
        "bio": data.profile.bio,
        "version": data.version,
        "deleted_at": data.deleted_at,
        "created_at": data.created_at,
        "updated_at": data.updated_at,
        **event_columns(event.event_id, event.timestamp),
    }
    return Change(
        users,
        event.entity_id,
        event.timestamp,
        Kind.SNAPSHOT,
        (Upsert(users, row, UPDATABLE),),
        event_id=event.event_id,
    )


def map_deleted(event: UserDeleted) -> Change:
    user_id = event.data.user_id or event.entity_id
    values = {"deleted_at": event.timestamp, **event_columns(event.event_id, event.timestamp)}
    return Change(
        users,
        user_id,
        event.timestamp,
        Kind.PATCH,
        (Patch(users, user_id, values),),
        event_id=event.event_id,
    )
