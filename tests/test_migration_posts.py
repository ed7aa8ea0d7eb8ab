"""Migration 0013 on a database that has lived: the new columns take their defaults without a
row being rewritten, and the Allocator reads an existing video or photo content as its one media
item (from media_url), a text content as none; Reddit and Bluesky and the event type
content.updated become storable. The schema goes down (what only 0013 can hold goes with it) and
up again."""

from __future__ import annotations

from uuid import UUID, uuid4

import psycopg
import pytest
from alembic import command
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from allocator.domain import ContentSpec
from queuelabs.platforms import MediaType
from queuelabs.posts import MediaItem
from tests.test_migration_processing import alembic


def a_content(
    conn: psycopg.Connection, profile_id: UUID, platform: str, hour: int, media: tuple[str, str]
) -> UUID:
    content_id = uuid4()
    media_type, media_url = media
    conn.execute(
        "insert into contents (content_id, profile_id, platform, status, slot_id, scheduled_at,"
        " media_type, media_url) values (%s, %s, %s, 'scheduled', %s,"
        " '2026-12-01T00:00Z'::timestamptz + make_interval(hours => %s), %s, %s)",
        (content_id, profile_id, platform, uuid4(), hour, media_type, media_url),
    )
    return content_id


def posts(database_url: str) -> dict[UUID, tuple]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select content_id, media, first_comment, alt_text, revision from contents"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def read_media(database_url: str) -> dict[UUID, tuple[MediaItem, ...]]:
    """Each content's media as the Allocator reads it."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute("select * from contents").fetchall()
    return {row["content_id"]: ContentSpec.from_row(row).media for row in rows}


def test_existing_contents_get_their_one_item_and_the_schema_goes_down_and_up(
    empty_database_url,
):
    config = alembic(empty_database_url)
    command.upgrade(config, "0012")
    profile_id = uuid4()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(
            "insert into profiles (profile_id, name, upload_post_user, timezone)"
            " values (%s, 'p', 'u', 'UTC')",
            (profile_id,),
        )
        video = a_content(conn, profile_id, "tiktok", 1, ("video", "https://cdn.example/v.mp4"))
        photo = a_content(conn, profile_id, "instagram", 1, ("photo", "https://cdn.example/p.jpg"))
        text = a_content(conn, profile_id, "x", 1, ("text", ""))
        with pytest.raises(psycopg.errors.CheckViolation):
            a_content(conn, profile_id, "reddit", 2, ("text", ""))

    with psycopg.connect(empty_database_url) as conn:
        before: dict[UUID, str] = dict(
            conn.execute("select content_id, ctid from contents").fetchall()
        )
    command.upgrade(config, "head")
    with psycopg.connect(empty_database_url) as conn:
        after: dict[UUID, str] = dict(
            conn.execute("select content_id, ctid from contents").fetchall()
        )
    assert after == before  # not one row written again: the history is left as it is
    assert posts(empty_database_url) == {
        video: ([], "", "", 1),
        photo: ([], "", "", 1),
        text: ([], "", "", 1),
    }
    assert read_media(empty_database_url) == {
        video: (MediaItem("https://cdn.example/v.mp4", MediaType.VIDEO),),
        photo: (MediaItem("https://cdn.example/p.jpg", MediaType.PHOTO),),
        text: (),
    }
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        reddit = a_content(conn, profile_id, "reddit", 2, ("text", ""))
        a_content(conn, profile_id, "bluesky", 2, ("photo", "https://cdn.example/b.jpg"))
        conn.execute(
            "insert into schedules (profile_id, platform, materialized_until)"
            " values (%s, 'bluesky', now())",
            (profile_id,),
        )
        conn.execute(
            "insert into events (type, occurred_at, content_id, profile_id, platform, data)"
            " values ('content.updated', now(), %s, %s, 'x', %s)",
            (text, profile_id, Jsonb({"revision": 2})),
        )
        conn.execute(
            "insert into events (type, occurred_at, content_id, profile_id, platform)"
            " values ('content.assigned', now(), %s, %s, 'reddit')",
            (reddit, profile_id),
        )

    command.downgrade(config, "0012")
    with psycopg.connect(empty_database_url) as conn:
        remaining = {r[0] for r in conn.execute("select content_id from contents").fetchall()}
        assert remaining == {video, photo, text}
        assert conn.execute("select count(*) from events").fetchone() == (0,)
        assert conn.execute("select count(*) from schedules").fetchone() == (0,)
    command.upgrade(config, "head")
    assert read_media(empty_database_url)[video] == (
        MediaItem("https://cdn.example/v.mp4", MediaType.VIDEO),
    )
