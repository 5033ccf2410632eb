"""supplier.* events → `suppliers` rows."""

from __future__ import annotations

from analytics.events.supplier import (
    BusinessAddress,
    BusinessInfo,
    SupplierDeleted,
    SupplierSnapshot,
)
from analytics.mapping.ops import Change, Kind, Upsert, columns_except, event_columns, hard_delete
from analytics.schema import suppliers

UPDATABLE = columns_except(suppliers, "supplier_id", "created_at")


def map_snapshot(event: SupplierSnapshot) -> Change:
    data = event.data
    contact = data.contact_info
    company = data.company_info
    address = company.business_address or BusinessAddress()
    business = data.business_info or BusinessInfo()
    row = {
        "supplier_id": event.entity_id,
        "email": contact.primary_email,
        "primary_phone": contact.primary_phone,
        "contact_person_name": contact.contact_person_name,
        "contact_person_title": contact.contact_person_title,
        "contact_person_email": contact.contact_person_email,
        "contact_person_phone": contact.contact_person_phone,
        "legal_name": company.legal_name,
        "dba_name": company.dba_name,
        "street_address_1": address.street_address_1,
        "street_address_2": address.street_address_2,
        "city": address.city,
        "state": address.state,
        "zip_code": address.zip_code,
        "country": address.country,
        "support_email": business.support_email,
        "support_phone": business.support_phone,
        "facebook_url": business.facebook_url,
        "instagram_handle": business.instagram_handle,
        "twitter_handle": business.twitter_handle,
        "linkedin_url": business.linkedin_url,
        "timezone": business.timezone,
        "created_at": data.created_at,
        "updated_at": data.updated_at,
        **event_columns(event.event_id, event.timestamp),
    }
    upsert = Upsert(suppliers, row, UPDATABLE)
    return Change(
        suppliers,
        event.entity_id,
        event.timestamp,
        Kind.SNAPSHOT,
        (upsert,),
        event_id=event.event_id,
    )


def map_deleted(event: SupplierDeleted) -> Change:
    supplier_id = event.data.supplier_id or event.entity_id
    return Change(
        suppliers,
        supplier_id,
        event.timestamp,
        Kind.DELETE,
        hard_delete(suppliers, supplier_id, event.event_id, event.timestamp),
        event_id=event.event_id,
    )
