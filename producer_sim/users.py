"""Users: created, edited (their version counts the edits) and sometimes soft-deleted."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from producer_sim.message import Document, document_time
from producer_sim.randomness import maybe, object_id, pick
from producer_sim.text import ADDRESSES, BIOS, Address, display_name, password_hash, phone, slug

DEFAULT_AVATAR = "https://cdn.example.com/avatars/default.jpg"


@dataclass
class User:
    id: str
    password_hash: str
    email: str
    display_name: str
    address: Address
    created_at: datetime
    updated_at: datetime
    phone: str | None = None
    avatar: str | None = DEFAULT_AVATAR
    bio: str | None = None
    date_of_birth: str | None = None
    additional_emails: list[str] = field(default_factory=list)
    version: int = 1
    author_type: str = "user"
    post_ids: list[str] = field(default_factory=list)

    def document(self) -> Document:
        return {
            "id": self.id,
            "revision_id": None,
            "password_hash": self.password_hash,
            "contact_info": {
                "primary_email": self.email,
                "additional_emails": list(self.additional_emails),
                "phone": self.phone,
            },
            "profile": {
                "display_name": self.display_name,
                "avatar": self.avatar,
                "bio": self.bio,
                "date_of_birth": self.date_of_birth,
            },
            "deleted_at": None,
            "version": self.version,
            "created_at": document_time(self.created_at),
            "updated_at": document_time(self.updated_at),
        }


def new_user(rng: random.Random, now: datetime) -> User:
    user_id = object_id(rng)
    name = display_name(rng)
    user = User(
        id=user_id,
        password_hash=password_hash(rng),
        email=f"{slug(name).split('-')[0]}.{user_id[-6:]}@example.com",
        display_name=name,
        address=pick(rng, ADDRESSES),
        created_at=now,
        updated_at=now,
        author_type="leader" if maybe(rng, 0.15) else "user",
    )
    if maybe(rng, 0.4):
        user.phone = phone(rng)
    if maybe(rng, 0.3):
        user.bio = pick(rng, BIOS)
    if maybe(rng, 0.3):
        user.date_of_birth = (
            f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )
    return user


def update_user(rng: random.Random, user: User, now: datetime) -> None:
    """One profile edit, as a user makes it in the app."""
    change = rng.randrange(5)
    if change == 0:
        user.display_name = display_name(rng)
    elif change == 1:
        user.bio = None if user.bio and maybe(rng, 0.3) else pick(rng, BIOS)
    elif change == 2:
        user.phone = None if user.phone and maybe(rng, 0.3) else phone(rng)
    elif change == 3:
        user.avatar = f"https://cdn.example.com/avatars/{user.id}/{rng.randrange(1000)}.jpg"
    else:
        extra = f"{slug(user.display_name)}.{rng.randrange(100)}@example.org"
        user.additional_emails = [*user.additional_emails[-2:], extra]
    user.version += 1
    user.updated_at = now
