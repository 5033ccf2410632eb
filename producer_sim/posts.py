"""Posts: written as drafts by existing users, edited, published, and soft-deleted."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from producer_sim.message import Document, document_time
from producer_sim.randomness import maybe, object_id, pick
from producer_sim.text import LINK_SITES, post_text
from producer_sim.users import User

POST_TYPES = ("text", "image", "video", "link")


@dataclass
class Post:
    id: str
    post_type: str
    author_id: str
    author_name: str
    author_avatar: str | None
    author_type: str
    text: str
    created_at: datetime
    updated_at: datetime
    media: list[dict[str, Any]] = field(default_factory=list)
    link: tuple[str, str, str] | None = None
    link_description: str | None = None
    published_at: datetime | None = None
    view_count: int = 0
    like_count: int = 0
    comment_count: int = 0
    share_count: int = 0
    save_count: int = 0
    last_comment_at: datetime | None = None

    @property
    def engagement_rate(self) -> float:
        if self.view_count == 0:
            return 0.0
        engaged = self.like_count + self.comment_count + self.share_count + self.save_count
        return round(engaged / self.view_count * 100, 4)

    def document(self) -> Document:
        link_preview = None
        if self.link is not None:
            url, title, site_name = self.link
            link_preview = {
                "url": url,
                "title": title,
                "description": self.link_description,
                "image": None,
                "site_name": site_name,
            }
        return {
            "id": self.id,
            "revision_id": None,
            "post_type": self.post_type,
            "author": {
                "user_id": self.author_id,
                "display_name": self.author_name,
                "avatar": self.author_avatar,
                "author_type": self.author_type,
            },
            "text_content": self.text,
            "media": [dict(item) for item in self.media],
            "link_preview": link_preview,
            "stats": {
                "view_count": self.view_count,
                "like_count": self.like_count,
                "comment_count": self.comment_count,
                "share_count": self.share_count,
                "save_count": self.save_count,
                "engagement_rate": self.engagement_rate,
                "last_comment_at": document_time(self.last_comment_at)
                if self.last_comment_at
                else None,
            },
            "deleted_at": None,
            "published_at": document_time(self.published_at) if self.published_at else None,
            "created_at": document_time(self.created_at),
            "updated_at": document_time(self.updated_at),
        }


def _media(rng: random.Random, post_id: str, post_type: str) -> list[dict[str, Any]]:
    if post_type == "image":
        side = pick(rng, (720, 1080, 1440))
        return [
            {
                "media_type": "image",
                "media_url": f"https://cdn.example.com/p/{post_id}/{index}.jpg",
                "thumbnail_url": None,
                "width": side,
                "height": side,
                "duration_seconds": None,
                "size_bytes": rng.randint(40_000, 900_000),
            }
            for index in range(1, rng.randint(1, 4) + 1)
        ]
    if post_type == "video":
        return [
            {
                "media_type": "video",
                "media_url": f"https://cdn.example.com/p/{post_id}/clip.mp4",
                "thumbnail_url": f"https://cdn.example.com/p/{post_id}/clip.jpg",
                "width": 1920,
                "height": 1080,
                "duration_seconds": round(rng.uniform(3, 180), 1),
                "size_bytes": rng.randint(1_000_000, 80_000_000),
            }
        ]
    return []


def new_post(rng: random.Random, author: User, now: datetime) -> Post:
    post_id = object_id(rng)
    post_type = pick(rng, POST_TYPES)
    post = Post(
        id=post_id,
        post_type=post_type,
        author_id=author.id,
        author_name=author.display_name,
        author_avatar=author.avatar,
        author_type=author.author_type,
        text=post_text(rng),
        created_at=now,
        updated_at=now,
        media=_media(rng, post_id, post_type),
    )
    if post_type == "link":
        post.link = pick(rng, LINK_SITES)
        post.link_description = "A short read ☕" if maybe(rng, 0.5) else None
    return post


def edit_post(rng: random.Random, post: Post, author: User, now: datetime) -> None:
    """A text edit by the author, or (once published) engagement the platform counted."""
    post.author_name, post.author_avatar = author.display_name, author.avatar
    if post.published_at is None or maybe(rng, 0.2):
        post.text = post_text(rng) + (" (edited)" if maybe(rng, 0.5) else "")
    else:
        post.view_count += rng.randint(1, 300)
        post.like_count += rng.randint(0, 25)
        post.share_count += rng.randint(0, 3)
        post.save_count += rng.randint(0, 4)
        comments = rng.randint(0, 3)
        if comments:
            post.comment_count += comments
            post.last_comment_at = now
    post.updated_at = now


def publish_post(post: Post, now: datetime) -> None:
    post.published_at = now
    post.updated_at = now
