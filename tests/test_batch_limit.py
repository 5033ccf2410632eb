"""The batch limit follows the measured write time, between the floor and batch_size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analytics.batch_limit import FLOOR, BatchLimit


def test_it_starts_at_batch_size() -> None:
    assert BatchLimit(5000, 0.5).size == 5000


def test_a_slow_batch_shrinks_the_next_ones_to_what_would_have_fit() -> None:
    limit = BatchLimit(5000, 0.5)
    limit.observe(5000, 2.0)  # 2,500 messages/s: 1,250 fit in 0.5 s, aimed under it
    assert limit.size == 1000


def test_it_never_goes_below_the_floor() -> None:
    limit = BatchLimit(5000, 0.5)
    limit.observe(5000, 600.0)
    assert limit.size == FLOOR


def test_the_floor_is_batch_size_when_that_is_smaller() -> None:
    limit = BatchLimit(10, 0.5)
    limit.observe(10, 60.0)
    assert limit.size == 10


def test_fast_full_batches_grow_it_back_at_most_doubling_and_never_past_batch_size() -> None:
    limit = BatchLimit(5000, 0.5)
    limit.observe(5000, 600.0)
    sizes = []
    for _ in range(8):
        limit.observe(limit.size, 0.001)
        sizes.append(limit.size)
    assert sizes == [200, 400, 800, 1600, 3200, 5000, 5000, 5000]


def test_a_fast_batch_cut_short_by_a_quiet_stream_changes_nothing() -> None:
    limit = BatchLimit(5000, 0.5)
    limit.observe(5000, 2.0)
    limit.observe(3, 0.001)
    assert limit.size == 1000


def test_a_batch_just_within_the_target_keeps_the_size() -> None:
    """Between the aim and the target nothing moves: no see-saw around the target."""
    limit = BatchLimit(5000, 0.5)
    limit.observe(5000, 2.0)
    limit.observe(1000, 0.45)
    assert limit.size == 1000


def test_a_slow_batch_never_grows_it() -> None:
    limit = BatchLimit(5000, 0.5)
    limit.observe(5000, 2.0)
    limit.observe(5000, 0.6)  # larger than the limit (polled before it shrank), still slow
    assert limit.size == 1000


def test_no_target_keeps_batch_size() -> None:
    limit = BatchLimit(5000, 0)
    limit.observe(5000, 600.0)
    assert limit.size == 5000


@given(
    most=st.integers(1, 100_000),
    target=st.floats(0, 60),
    writes=st.lists(
        st.tuples(st.integers(0, 200_000), st.floats(0, 1e4, allow_nan=False)), max_size=30
    ),
)
def test_the_limit_stays_between_the_floor_and_batch_size(
    most: int, target: float, writes: list[tuple[int, float]]
) -> None:
    limit = BatchLimit(most, target)
    for messages, seconds in writes:
        limit.observe(messages, seconds)
        assert min(FLOOR, most) <= limit.size <= most
