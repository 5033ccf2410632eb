"""The simulated platform: users, suppliers, products, posts and orders that act over time.

Each step picks one thing that happens on the platform, weighted towards the common ones
(product, order and post updates) and restricted to what is possible at that moment, changes
the world, and returns the Kafka message the backend emits for it. Everything is driven by
one `random.Random(seed)` and a simulated clock, so a seed always gives the same bytes.

Invariants the stream keeps, as the real backend does:

- a user or supplier exists (was created) before anything refers to it; deleted users stop
  acting (their open orders still get fulfilled), deleted suppliers have no live products;
- a new order refers only to active (published, not deleted) products and existing users;
  a product is deleted only once no open order contains it, and never referred to after;
- nothing happens to an entity after its delete event; cancelled orders stay cancelled;
- timestamps strictly increase, and every document's `updated_at` is its event's timestamp.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timedelta

from analytics.events import TOPICS
from producer_sim.message import Document, Message, make_message
from producer_sim.orders import (
    MAX_ITEMS,
    UNIQUE_ORDER_DIGITS,
    Order,
    OrderStatus,
    advance,
    cancel,
    is_open,
    new_order,
    order_number,
)
from producer_sim.posts import Post, edit_post, new_post, publish_post
from producer_sim.products import (
    Product,
    Status,
    discontinue,
    edit_product,
    mark_out_of_stock,
    new_product,
    publish,
    restore,
)
from producer_sim.randomness import MAX_TICK, START, Clock, Pool, uuid4
from producer_sim.suppliers import Supplier, new_supplier, update_supplier
from producer_sim.users import User, new_user, update_user

Action = Callable[[], Message | None]

# Below these sizes the world is still being populated and creations are favoured.
MIN_USERS = 8
MIN_SUPPLIERS = 3
MIN_PRODUCTS = 6


class World:
    """A platform with its own seeded randomness and clock; `step()` emits the next event."""

    def __init__(
        self, seed: int, start: datetime = START, order_digits: int = UNIQUE_ORDER_DIGITS
    ) -> None:
        self.rng = random.Random(seed)
        self.order_digits = order_digits
        self.clock = Clock(self.rng, start)
        self.users: Pool[User] = Pool()  # not deleted
        self.suppliers: Pool[Supplier] = Pool()  # not deleted
        self.empty_suppliers: Pool[Supplier] = Pool()  # not deleted, no live product
        self.products: Pool[Product] = Pool()  # not deleted
        self.by_status: dict[Status, Pool[Product]] = {status: Pool() for status in Status}
        self.posts: Pool[Post] = Pool()  # not deleted, author not deleted
        self.draft_posts: Pool[Post] = Pool()  # the unpublished ones among them
        self.open_orders: Pool[Order] = Pool()  # pending, processing or shipped
        self.cancellable: Pool[Order] = Pool()  # pending or processing
        self.order_numbers: set[str] = set()
        self.products_made = 0

    # --- the schedule ---------------------------------------------------------------------

    def step(self) -> Message:
        """Advance the world by one event and return its message."""
        while True:
            possible = list(self._possible())
            weights = [weight for _action, weight in possible]
            action = self.rng.choices(possible, weights)[0][0]
            message = action()
            if message is not None:
                return message

    def _possible(self) -> Iterator[tuple[Action, float]]:
        users, suppliers, products = len(self.users), len(self.suppliers), len(self.products)
        drafts = len(self.by_status[Status.DRAFT])
        active = len(self.by_status[Status.ACTIVE])
        out_of_stock = len(self.by_status[Status.OUT_OF_STOCK])
        discontinued = len(self.by_status[Status.DISCONTINUED])
        yield self.create_user, 3.0 + (25.0 if users < MIN_USERS else 0.0)
        yield self.create_supplier, 0.8 + (15.0 if suppliers < MIN_SUPPLIERS else 0.0)
        if users:
            yield self.update_user, 4.0
            yield self.create_post, 4.0
            if active:
                yield self.create_order, 6.0
        if users > MIN_USERS:
            yield self.delete_user, 0.25
        if suppliers:
            yield self.update_supplier, 1.5
            yield self.create_product, 3.0 + (20.0 if products < MIN_PRODUCTS else 0.0)
        if self.empty_suppliers and suppliers > MIN_SUPPLIERS:
            yield self.delete_supplier, 0.1
        if products:
            yield self.update_product, 12.0
        if drafts:
            yield self.publish_product, 2.5
        if active:
            yield self.product_out_of_stock, 1.0
        if active or out_of_stock:
            yield self.discontinue_product, 0.6
        if out_of_stock or discontinued:
            yield self.restore_product, 1.0
        if drafts or discontinued:
            yield self.delete_product, 0.5
        if self.posts:
            yield self.update_post, 8.0
            yield self.delete_post, 0.5
        if self.draft_posts:
            yield self.publish_post, 3.0
        if self.open_orders:
            yield self.advance_order, min(15.0, 2.0 + 0.3 * len(self.open_orders))
        if self.cancellable:
            yield self.cancel_order, 0.8

    def _emit(self, event_type: str, entity_id: str, now: datetime, data: Document) -> Message:
        return make_message(event_type, uuid4(self.rng), now, entity_id, data)

    # --- users ----------------------------------------------------------------------------

    def create_user(self) -> Message:
        now = self.clock.tick()
        user = new_user(self.rng, now)
        self.users.add(user.id, user)
        return self._emit("user.created", user.id, now, user.document())

    def update_user(self) -> Message:
        now = self.clock.tick()
        user = self.users.choice(self.rng)
        update_user(self.rng, user, now)
        return self._emit("user.updated", user.id, now, user.document())

    def delete_user(self) -> Message:
        now = self.clock.tick()
        user = self.users.choice(self.rng)
        self.users.remove(user.id)
        for post_id in user.post_ids:
            self.posts.remove(post_id)
            self.draft_posts.remove(post_id)
        return self._emit("user.deleted", user.id, now, {"user_id": user.id})

    # --- suppliers ------------------------------------------------------------------------

    def create_supplier(self) -> Message:
        now = self.clock.tick()
        supplier = new_supplier(self.rng, now)
        self.suppliers.add(supplier.id, supplier)
        self.empty_suppliers.add(supplier.id, supplier)
        return self._emit("supplier.created", supplier.id, now, supplier.document())

    def update_supplier(self) -> Message:
        now = self.clock.tick()
        supplier = self.suppliers.choice(self.rng)
        update_supplier(self.rng, supplier, now)
        return self._emit("supplier.updated", supplier.id, now, supplier.document())

    def delete_supplier(self) -> Message:
        now = self.clock.tick()
        supplier = self.empty_suppliers.choice(self.rng)
        self.suppliers.remove(supplier.id)
        self.empty_suppliers.remove(supplier.id)
        return self._emit("supplier.deleted", supplier.id, now, {"supplier_id": supplier.id})

    # --- products -------------------------------------------------------------------------

    def _product_event(self, event_type: str, product: Product, now: datetime) -> Message:
        return self._emit(event_type, product.id, now, product.document())

    def _set_status(self, product: Product, change: Callable[[], None]) -> None:
        self.by_status[product.status].remove(product.id)
        change()
        self.by_status[product.status].add(product.id, product)

    def create_product(self) -> Message:
        now = self.clock.tick()
        supplier = self.suppliers.choice(self.rng)
        self.products_made += 1
        product = new_product(self.rng, supplier, self.products_made, now)
        self.products.add(product.id, product)
        self.by_status[product.status].add(product.id, product)
        supplier.product_ids.append(product.id)
        self.empty_suppliers.remove(supplier.id)
        return self._product_event("product.created", product, now)

    def update_product(self) -> Message:
        now = self.clock.tick()
        product = self.products.choice(self.rng)
        edit_product(self.rng, product, now)
        return self._product_event("product.updated", product, now)

    def publish_product(self) -> Message:
        now = self.clock.tick()
        product = self.by_status[Status.DRAFT].choice(self.rng)
        self._set_status(product, lambda: publish(product, now))
        return self._product_event("product.published", product, now)

    def product_out_of_stock(self) -> Message:
        now = self.clock.tick()
        product = self.by_status[Status.ACTIVE].choice(self.rng)
        self._set_status(product, lambda: mark_out_of_stock(product, now))
        return self._product_event("product.out_of_stock", product, now)

    def discontinue_product(self) -> Message:
        now = self.clock.tick()
        product = self._choose_with_status(Status.ACTIVE, Status.OUT_OF_STOCK)
        self._set_status(product, lambda: discontinue(product, now))
        return self._product_event("product.discontinued", product, now)

    def restore_product(self) -> Message:
        now = self.clock.tick()
        product = self._choose_with_status(Status.OUT_OF_STOCK, Status.DISCONTINUED)
        self._set_status(product, lambda: restore(self.rng, product, now))
        return self._product_event("product.restored", product, now)

    def delete_product(self) -> Message | None:
        product = self._choose_with_status(Status.DRAFT, Status.DISCONTINUED)
        if product.open_orders:
            return None  # still in an order on its way; try something else
        now = self.clock.tick()
        self.products.remove(product.id)
        self.by_status[product.status].remove(product.id)
        supplier = self.suppliers.get(product.supplier_id)
        if supplier is not None:
            supplier.product_ids.remove(product.id)
            if not supplier.product_ids:
                self.empty_suppliers.add(supplier.id, supplier)
        return self._emit("product.deleted", product.id, now, {"product_id": product.id})

    def _choose_with_status(self, *statuses: Status) -> Product:
        pools = [self.by_status[status] for status in statuses]
        pool = self.rng.choices(pools, [len(pool) for pool in pools])[0]
        return pool.choice(self.rng)

    # --- posts ----------------------------------------------------------------------------

    def create_post(self) -> Message:
        now = self.clock.tick()
        author = self.users.choice(self.rng)
        post = new_post(self.rng, author, now)
        author.post_ids.append(post.id)
        self.posts.add(post.id, post)
        self.draft_posts.add(post.id, post)
        return self._emit("post.created", post.id, now, post.document())

    def update_post(self) -> Message:
        now = self.clock.tick()
        post = self.posts.choice(self.rng)
        author = self.users.get(post.author_id)
        assert author is not None, "posts of deleted users leave the pool"
        edit_post(self.rng, post, author, now)
        return self._emit("post.updated", post.id, now, post.document())

    def publish_post(self) -> Message:
        now = self.clock.tick()
        post = self.draft_posts.choice(self.rng)
        publish_post(post, now)
        self.draft_posts.remove(post.id)
        return self._emit("post.published", post.id, now, post.document())

    def delete_post(self) -> Message:
        now = self.clock.tick()
        post = self.posts.choice(self.rng)
        self.posts.remove(post.id)
        self.draft_posts.remove(post.id)
        return self._emit("post.deleted", post.id, now, {"post_id": post.id})

    # --- orders ---------------------------------------------------------------------------

    def create_order(self) -> Message:
        now = self.clock.tick()
        customer = self.users.choice(self.rng)
        count = self.rng.choices(range(1, MAX_ITEMS + 1), (50, 30, 15, 5))[0]
        products = self.by_status[Status.ACTIVE].sample(self.rng, count)
        number = order_number(self.rng, now, self.order_numbers, self.order_digits)
        order = new_order(self.rng, customer, products, number, now)
        for product in products:
            product.open_orders += 1
        self.open_orders.add(order.id, order)
        self.cancellable.add(order.id, order)
        return self._emit("order.created", order.id, now, order.document())

    def advance_order(self) -> Message:
        now = self.clock.tick()
        order = self.open_orders.choice(self.rng)
        advance(self.rng, order, now)
        if order.status is not OrderStatus.PROCESSING:
            self.cancellable.remove(order.id)
        if not is_open(order):
            self._close(order)
        return self._emit("order.created", order.id, now, order.document())

    def cancel_order(self) -> Message:
        now = self.clock.tick()
        order = self.cancellable.choice(self.rng)
        cancel(order, now)
        self.cancellable.remove(order.id)
        self._close(order)
        return self._emit("order.cancelled", order.id, now, {"order_number": order.order_number})

    def _close(self, order: Order) -> None:
        self.open_orders.remove(order.id)
        for product_id in order.product_ids:
            product = self.products.get(product_id)
            assert product is not None, "products in open orders are never deleted"
            product.open_orders -= 1


def parse_domains(domains: Collection[str] | str | None) -> frozenset[str] | None:
    """None (every topic), or the chosen topics; a string is comma-separated."""
    if domains is None:
        return None
    if isinstance(domains, str):
        domains = [part.strip() for part in domains.split(",") if part.strip()]
    chosen = frozenset(domains)
    unknown = sorted(chosen - set(TOPICS))
    if unknown:
        raise ValueError(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(TOPICS)}")
    if not chosen:
        raise ValueError(f"no domain chosen; choose from {', '.join(TOPICS)}")
    return chosen


# How far back a world starts when its length in simulated time is not known in advance
# (a run bounded by its duration, or a filtered one): long enough for any run that is not
# a benchmark; `not_after` ends the stream if the world still reaches the present.
OPEN_ENDED_HISTORY = timedelta(days=30)


def recent_start(now: datetime, events: int | None) -> datetime:
    """Where a world of `events` clean events (None: open-ended) starts so that it ends
    before `now`, whatever the seed: every tick of its clock is at most MAX_TICK."""
    span = OPEN_ENDED_HISTORY if events is None else events * MAX_TICK
    return (now - span).replace(microsecond=0)


def generate(
    seed: int,
    count: int,
    domains: Collection[str] | str | None = None,
    *,
    start: datetime = START,
    order_digits: int = UNIQUE_ORDER_DIGITS,
    not_after: datetime | None = None,
) -> Iterator[Message]:
    """The first `count` clean messages of the world `seed` makes (of `domains` only).

    The world always simulates every domain, so that filtered streams keep referring to
    real users and products; only the chosen topics are yielded. Its clock starts at
    `start`; with `not_after`, the stream ends before the first event stamped later (a
    consumer dead-letters events from its future). Arguments are checked at once
    (ValueError), not when iteration starts.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    world = World(seed, start, order_digits)
    return _generate(world, count, parse_domains(domains), not_after)


def _generate(
    world: World, count: int, chosen: frozenset[str] | None, not_after: datetime | None
) -> Iterator[Message]:
    emitted = 0
    while emitted < count:
        message = world.step()
        if not_after is not None and world.clock.now > not_after:
            return
        if chosen is None or message.topic in chosen:
            emitted += 1
            yield message
