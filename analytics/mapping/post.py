"""post.* events → `posts` rows."""

from __future__ import annotations

from analytics.events.post import LinkPreview, PostDeleted, PostSnapshot
from analytics.mapping.ops import Change, Kind, Patch, Upsert, columns_except, event_columns
from analytics.schema import posts

UPDATABLE = columns_except(posts, "post_id", "author_user_id", "author_type", "created_at")


def map_snapshot(event: PostSnapshot) -> Change:
    data = event.data
    link = data.link_preview or LinkPreview()
    stats = data.stats
    row = {
        "post_id": event.entity_id,
        "post_type": data.post_type,
        "author_user_id": data.author.user_id,
        "author_display_name": data.author.display_name,
        "author_avatar": data.author.avatar,
        "author_type": data.author.author_type,
        "text_content": data.text_content,
        "media_json": data.media or None,
        "link_url": link.url,
        "link_title": link.title,
        "link_description": link.description,
        "link_image": link.image,
        "link_site_name": link.site_name,
        "view_count": stats.view_count,
        "like_count": stats.like_count,
        "comment_count": stats.comment_count,
        "share_count": stats.share_count,
        "save_count": stats.save_count,
        "engagement_rate": stats.engagement_rate,
        "last_comment_at": stats.last_comment_at,
        "deleted_at": data.deleted_at,
        "published_at": data.published_at,
        "created_at": data.created_at,
        "updated_at": data.updated_at,
        **event_columns(event.event_id, event.timestamp),
    }
    return Change(
        posts,
        event.entity_id,
        event.timestamp,
        Kind.SNAPSHOT,
        (Upsert(posts, row, UPDATABLE),),
        event_id=event.event_id,
    )


def map_deleted(event: PostDeleted) -> Change:
    post_id = event.data.post_id or event.entity_id
    values = {"deleted_at": event.timestamp, **event_columns(event.event_id, event.timestamp)}
    return Change(
        posts,
        post_id,
        event.timestamp,
        Kind.PATCH,
        (Patch(posts, post_id, values),),
        event_id=event.event_id,
    )
