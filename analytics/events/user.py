"""`user` topic: user.created, user.updated (full user), user.deleted (`{"user_id"}`)."""

from __future__ import annotations

from typing import Literal

from analytics.events.envelope import Envelope, SnapshotDocument, SnapshotEnvelope
from analytics.events.fields import (
    Int32,
    Key24,
    Model,
    Str50,
    Str100,
    Str255,
    Str500,
    Text,
    UtcDateTime,
)


class UserContactInfo(Model):
    primary_email: Str255
    phone: Str50 | None = None


class UserProfile(Model):
    display_name: Str100
    avatar: Text | None = None
    bio: Str500 | None = None


class UserDocument(SnapshotDocument):
    contact_info: UserContactInfo
    profile: UserProfile
    version: Int32 | None = 1
    deleted_at: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class UserSnapshot(SnapshotEnvelope):
    event_type: Literal["user.created", "user.updated"]
    data: UserDocument


class UserDeletedData(Model):
    user_id: Key24 | None = None


class UserDeleted(Envelope):
    event_type: Literal["user.deleted"]
    data: UserDeletedData = UserDeletedData()
