"""`product` topic: six full-product lifecycle events and product.deleted."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from analytics.events.envelope import Envelope, SnapshotDocument, SnapshotEnvelope
from analytics.events.fields import (
    Double,
    Int32,
    JsonList,
    Key24,
    Model,
    Str20,
    Str50,
    Str100,
    Str200,
    Str500,
    Text,
    UtcDateTime,
)

PRODUCT_SNAPSHOT_TYPES = (
    "product.created",
    "product.updated",
    "product.published",
    "product.discontinued",
    "product.out_of_stock",
    "product.restored",
)


class SupplierInfo(Model):
    name: Str200 | None = None


class ProductMetadata(Model):
    base_sku: Str100 | None = None
    brand: Str100 | None = None


class PackageDimensions(Model):
    width_cm: Double | None = None
    height_cm: Double | None = None
    depth_cm: Double | None = None


class ProductVariant(Model):
    variant_id: Str100
    variant_name: Str200
    attributes: JsonList | None = None
    price_cents: Int32
    cost_cents: Int32 | None = None
    quantity: Int32 | None = 0
    package_dimensions: PackageDimensions | None = None
    image_url: Text | None = None


class ProductStats(Model):
    view_count: Int32 | None = 0
    favorite_count: Int32 | None = 0
    purchase_count: Int32 | None = 0
    total_reviews: Int32 | None = 0


class ProductDocument(SnapshotDocument):
    supplier_id: Key24
    supplier_info: SupplierInfo | None = None
    name: Str200
    short_description: Str500 | None = None
    category: Str50
    unit_type: Str20
    metadata: ProductMetadata | None = None
    variants: dict[Str200, ProductVariant] = Field(default_factory=dict)
    base_price_cents: Int32
    stats: ProductStats = ProductStats()
    status: Str20
    published_at: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ProductSnapshot(SnapshotEnvelope):
    event_type: Literal[
        "product.created",
        "product.updated",
        "product.published",
        "product.discontinued",
        "product.out_of_stock",
        "product.restored",
    ]
    data: ProductDocument


class ProductDeletedData(Model):
    product_id: Key24 | None = None


class ProductDeleted(Envelope):
    event_type: Literal["product.deleted"]
    data: ProductDeletedData = ProductDeletedData()
