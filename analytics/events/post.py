"""`post` topic: post.created, post.updated, post.published (full post), post.deleted."""

from __future__ import annotations

from typing import Literal

from analytics.events.envelope import Envelope, SnapshotDocument, SnapshotEnvelope
from analytics.events.fields import (
    Double,
    Int32,
    JsonList,
    Key24,
    Model,
    Str20,
    Str200,
    Str500,
    Text,
    UtcDateTime,
)


class PostAuthor(Model):
    user_id: Key24
    display_name: Str200 | None = None
    avatar: Text | None = None
    author_type: Str20 | None = None


class LinkPreview(Model):
    url: Text | None = None
    title: Str200 | None = None
    description: Str500 | None = None
    image: Text | None = None
    site_name: Str200 | None = None


class PostStats(Model):
    view_count: Int32 | None = 0
    like_count: Int32 | None = 0
    comment_count: Int32 | None = 0
    share_count: Int32 | None = 0
    save_count: Int32 | None = 0
    engagement_rate: Double | None = 0.0
    last_comment_at: UtcDateTime | None = None


class PostDocument(SnapshotDocument):
    post_type: Str20
    author: PostAuthor
    text_content: Text | None = None
    media: JsonList | None = None
    link_preview: LinkPreview | None = None
    stats: PostStats = PostStats()
    deleted_at: UtcDateTime | None = None
    published_at: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class PostSnapshot(SnapshotEnvelope):
    event_type: Literal["post.created", "post.updated", "post.published"]
    data: PostDocument


class PostDeletedData(Model):
    post_id: Key24 | None = None


class PostDeleted(Envelope):
    event_type: Literal["post.deleted"]
    data: PostDeletedData = PostDeletedData()
