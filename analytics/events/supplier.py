"""`supplier` topic: supplier.created, supplier.updated (full supplier), supplier.deleted."""

from __future__ import annotations

from typing import Literal

from analytics.events.envelope import Envelope, SnapshotDocument, SnapshotEnvelope
from analytics.events.fields import (
    Key24,
    Model,
    Str2,
    Str20,
    Str50,
    Str100,
    Str200,
    Str255,
    Text,
    UtcDateTime,
)


class SupplierContactInfo(Model):
    primary_email: Str255
    primary_phone: Str50
    contact_person_name: Str200 | None = None
    contact_person_title: Str200 | None = None
    contact_person_email: Str255 | None = None
    contact_person_phone: Str50 | None = None


class BusinessAddress(Model):
    street_address_1: Str200 | None = None
    street_address_2: Str200 | None = None
    city: Str100 | None = None
    state: Str100 | None = None
    zip_code: Str20 | None = None
    country: Str2 | None = None


class CompanyInfo(Model):
    legal_name: Str200
    dba_name: Str200 | None = None
    business_address: BusinessAddress | None = None


class BusinessInfo(Model):
    support_email: Str255 | None = None
    support_phone: Str50 | None = None
    facebook_url: Text | None = None
    instagram_handle: Str100 | None = None
    twitter_handle: Str100 | None = None
    linkedin_url: Text | None = None
    timezone: Str50 | None = None


class SupplierDocument(SnapshotDocument):
    contact_info: SupplierContactInfo
    company_info: CompanyInfo
    business_info: BusinessInfo | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class SupplierSnapshot(SnapshotEnvelope):
    event_type: Literal["supplier.created", "supplier.updated"]
    data: SupplierDocument


class SupplierDeletedData(Model):
    supplier_id: Key24 | None = None


class SupplierDeleted(Envelope):
    event_type: Literal["supplier.deleted"]
    data: SupplierDeletedData = SupplierDeletedData()
