"""Pure functions from a decoded event to the `Change` it implies: no I/O, no clock."""

from __future__ import annotations

from analytics.events import Event
from analytics.events.order import OrderCancelled, OrderCreated
from analytics.events.post import PostDeleted, PostSnapshot
from analytics.events.product import ProductDeleted, ProductSnapshot
from analytics.events.supplier import SupplierDeleted, SupplierSnapshot
from analytics.events.user import UserDeleted, UserSnapshot
from analytics.mapping import order, post, product, supplier, user
from analytics.mapping.ops import Change


def map_event(event: Event) -> Change:
    match event:
        case UserSnapshot():
            return user.map_snapshot(event)
        case UserDeleted():
            return user.map_deleted(event)
        case SupplierSnapshot():
            return supplier.map_snapshot(event)
        case SupplierDeleted():
            return supplier.map_deleted(event)
        case ProductSnapshot():
            return product.map_snapshot(event)
        case ProductDeleted():
            return product.map_deleted(event)
        case PostSnapshot():
            return post.map_snapshot(event)
        case PostDeleted():
            return post.map_deleted(event)
        case OrderCreated():
            return order.map_created(event)
        case OrderCancelled():
            return order.map_cancelled(event)


__all__ = ["Change", "map_event"]
