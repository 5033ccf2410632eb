from __future__ import annotations

from analytics.mapping import map_event
from analytics.mapping.ops import Upsert
from analytics.schema import posts
from tests.samples import event_from, sample_dict, sample_event


def upsert_row(envelope: dict[str, object]) -> dict[str, object]:
    (upsert,) = map_event(event_from(envelope)).ops
    assert isinstance(upsert, Upsert)
    return dict(upsert.row)


def test_author_and_creation_time_are_never_updated() -> None:
    (upsert,) = map_event(sample_event("post.updated")).ops
    assert isinstance(upsert, Upsert)
    assert {"post_id", "author_user_id", "author_type", "created_at"}.isdisjoint(upsert.update)
    assert set(upsert.row) == {column.name for column in posts.columns}


def test_media_list_is_kept_as_given_and_null_when_empty() -> None:
    created = sample_dict("post.created")
    assert upsert_row(created)["media_json"] == created["data"]["media"]
    assert upsert_row(sample_dict("post.published"))["media_json"] is None


def test_link_columns_come_from_the_preview_or_are_all_null() -> None:
    row = upsert_row(sample_dict("post.created"))
    assert row["link_url"] == "https://example.com/workshop"
    assert row["link_description"] is None
    absent = sample_dict("post.created")
    del absent["data"]["link_preview"]
    links = ("link_url", "link_title", "link_description", "link_image", "link_site_name")
    assert all(upsert_row(absent)[name] is None for name in links)
    assert all(upsert_row(sample_dict("post.updated"))[name] is None for name in links)
