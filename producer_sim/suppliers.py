"""Suppliers: the companies that sell products; edited now and then, rarely deleted."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from producer_sim.message import Document, document_time
from producer_sim.randomness import maybe, object_id, pick
from producer_sim.text import (
    ADDRESSES,
    COMPANY_FORMS,
    SUPPLIER_TITLES,
    Address,
    password_hash,
    person_name,
    phone,
    slug,
)

BANKS = ("First Bank", "Banco Azul", "Nordbank", "Crédit Régional")


@dataclass
class Supplier:
    id: str
    password_hash: str
    email: str
    primary_phone: str
    legal_name: str
    dba_name: str | None
    address: Address
    contact_person_name: str | None
    contact_person_title: str | None
    created_at: datetime
    updated_at: datetime
    contact_person_email: str | None = None
    contact_person_phone: str | None = None
    ships_from_other_address: bool = False
    instagram_handle: str | None = None
    facebook_url: str | None = None
    twitter_handle: str | None = None
    linkedin_url: str | None = None
    support_email: str | None = None
    support_phone: str | None = None
    bank_name: str = BANKS[0]
    account_last4: str = "4242"
    additional_emails: list[str] = field(default_factory=list)
    product_ids: list[str] = field(default_factory=list)

    def document(self) -> Document:
        return {
            "id": self.id,
            "revision_id": None,
            "password_hash": self.password_hash,
            "contact_info": {
                "primary_email": self.email,
                "additional_emails": list(self.additional_emails),
                "primary_phone": self.primary_phone,
                "contact_person_name": self.contact_person_name,
                "contact_person_title": self.contact_person_title,
                "contact_person_email": self.contact_person_email,
                "contact_person_phone": self.contact_person_phone,
            },
            "company_info": {
                "legal_name": self.legal_name,
                "dba_name": self.dba_name,
                "business_address": self.address.document(),
                "shipping_address": self.address.document()
                if self.ships_from_other_address
                else None,
            },
            "business_info": {
                "facebook_url": self.facebook_url,
                "instagram_handle": self.instagram_handle,
                "twitter_handle": self.twitter_handle,
                "linkedin_url": self.linkedin_url,
                "timezone": self.address.timezone,
                "support_email": self.support_email,
                "support_phone": self.support_phone,
            },
            "banking_info": {
                "bank_name": self.bank_name,
                "account_holder_name": self.legal_name,
                "account_number_last4": self.account_last4,
            },
            "product_ids": list(self.product_ids),
            "created_at": document_time(self.created_at),
            "updated_at": document_time(self.updated_at),
        }


def new_supplier(rng: random.Random, now: datetime) -> Supplier:
    supplier_id = object_id(rng)
    first, last = person_name(rng)
    company = slug(last)
    supplier = Supplier(
        id=supplier_id,
        password_hash=password_hash(rng),
        email=f"sales.{supplier_id[-6:]}@example.com",
        primary_phone=phone(rng),
        legal_name=f"{last} {pick(rng, COMPANY_FORMS)}",
        dba_name=last if maybe(rng, 0.6) else None,
        address=pick(rng, ADDRESSES),
        contact_person_name=" ".join(person_name(rng)) if maybe(rng, 0.8) else None,
        contact_person_title=pick(rng, SUPPLIER_TITLES) if maybe(rng, 0.7) else None,
        created_at=now,
        updated_at=now,
        instagram_handle=f"@{company}" if maybe(rng, 0.6) else None,
        bank_name=pick(rng, BANKS),
        account_last4=f"{rng.randrange(10_000):04d}",
    )
    if maybe(rng, 0.3):
        supplier.contact_person_email = f"{slug(first)}.{supplier_id[-4:]}@example.com"
    if maybe(rng, 0.2):
        supplier.facebook_url = f"https://facebook.com/{company}"
    return supplier


def update_supplier(rng: random.Random, supplier: Supplier, now: datetime) -> None:
    change = rng.randrange(6)
    if change == 0:
        supplier.dba_name = pick(rng, ("Acme", "Atelier", supplier.legal_name.split(" ")[0]))
    elif change == 1:
        supplier.support_email = f"help.{supplier.id[-4:]}@example.com"
        supplier.support_phone = phone(rng) if maybe(rng, 0.5) else None
    elif change == 2:
        supplier.address = pick(rng, ADDRESSES)
        supplier.ships_from_other_address = maybe(rng, 0.3)
    elif change == 3:
        first, last = person_name(rng)
        supplier.contact_person_name = f"{first} {last}"
        supplier.contact_person_title = pick(rng, SUPPLIER_TITLES)
        supplier.contact_person_phone = phone(rng) if maybe(rng, 0.5) else None
    elif change == 4:
        company = slug(supplier.legal_name)
        supplier.twitter_handle = f"@{company[:15]}"
        supplier.linkedin_url = f"https://www.linkedin.com/company/{company}"
    else:
        supplier.additional_emails = [f"orders.{rng.randrange(100)}@example.com"]
    supplier.updated_at = now
