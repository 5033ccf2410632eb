"""product.* events → `products` rows and the product's `product_variants`."""

from __future__ import annotations

from typing import Any

from analytics.events.product import (
    PackageDimensions,
    ProductDeleted,
    ProductMetadata,
    ProductSnapshot,
    ProductVariant,
    SupplierInfo,
)
from analytics.mapping.ops import (
    Change,
    Kind,
    ReplaceChildren,
    Upsert,
    columns_except,
    event_columns,
    hard_delete,
)
from analytics.schema import product_variants, products

UPDATABLE = columns_except(products, "product_id", "supplier_id", "created_at")
VARIANT_UPDATABLE = columns_except(product_variants, "id", "product_id", "variant_key")


def map_snapshot(event: ProductSnapshot) -> Change:
    data = event.data
    metadata = data.metadata or ProductMetadata()
    row = {
        "product_id": event.entity_id,
        "supplier_id": data.supplier_id,
        "supplier_name": (data.supplier_info or SupplierInfo()).name,
        "name": data.name,
        "short_description": data.short_description,
        "category": data.category,
        "unit_type": data.unit_type,
        "base_sku": metadata.base_sku,
        "brand": metadata.brand,
        "base_price_cents": data.base_price_cents,
        "status": data.status,
        "view_count": data.stats.view_count,
        "favorite_count": data.stats.favorite_count,
        "purchase_count": data.stats.purchase_count,
        "total_reviews": data.stats.total_reviews,
        "published_at": data.published_at,
        "created_at": data.created_at,
        "updated_at": data.updated_at,
        **event_columns(event.event_id, event.timestamp),
    }
    variants = tuple(
        variant_row(event.entity_id, key, variant) for key, variant in data.variants.items()
    )
    ops = (
        Upsert(products, row, UPDATABLE),
        ReplaceChildren(
            product_variants,
            parent_column="product_id",
            parent_key=event.entity_id,
            key_column="variant_key",
            rows=variants,
            update=VARIANT_UPDATABLE,
        ),
    )
    return Change(
        products, event.entity_id, event.timestamp, Kind.SNAPSHOT, ops, event_id=event.event_id
    )


def variant_row(product_id: str, key: str, variant: ProductVariant) -> dict[str, Any]:
    dimensions = variant.package_dimensions or PackageDimensions()
    return {
        "product_id": product_id,
        "variant_key": key,
        "variant_id": variant.variant_id,
        "variant_name": variant.variant_name,
        "attributes_json": variant.attributes,
        "price_cents": variant.price_cents,
        "cost_cents": variant.cost_cents,
        "quantity": variant.quantity,
        "width_cm": dimensions.width_cm,
        "height_cm": dimensions.height_cm,
        "depth_cm": dimensions.depth_cm,
        "image_url": variant.image_url,
    }


def map_deleted(event: ProductDeleted) -> Change:
    product_id = event.data.product_id or event.entity_id
    return Change(
        products,
        product_id,
        event.timestamp,
        Kind.DELETE,
        hard_delete(products, product_id, event.event_id, event.timestamp),
        event_id=event.event_id,
    )
