"""Migration 0012 on a database that has lived: a content that sat in `unknown_outcome` while
Upload-Post worked on the job it had accepted becomes `processing`; one whose call nobody saw
the end of stays where it was. The schema goes down and up again."""

from __future__ import annotations

from uuid import UUID, uuid4

import psycopg
from alembic import command
from alembic.config import Config

from queuelabs.database import migrations_folder


def alembic(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    config.attributes["database_url"] = database_url
    return config


def a_content(conn: psycopg.Connection, profile_id: UUID, hour: int, outcomes: list[str]) -> UUID:
    """An Instagram content in unknown_outcome, with one publish attempt per outcome given."""
    content_id = uuid4()
    conn.execute(
        "insert into contents (content_id, profile_id, platform, status, slot_id, scheduled_at,"
        " media_type) values (%s, %s, 'instagram', 'unknown_outcome', %s,"
        " '2026-12-01T00:00Z'::timestamptz + make_interval(hours => %s), 'video')",
        (content_id, profile_id, uuid4(), hour),
    )
    for number, outcome in enumerate(outcomes, start=1):
        conn.execute(
            "insert into upload_attempts (content_id, number, kind, request_id, idempotency_key,"
            " worker, started_at, finished_at, outcome) values (%s, %s, 'publish', %s, 'k', 'w',"
            " now(), now(), %s)",
            (content_id, number, str(uuid4()), outcome),
        )
    return content_id


def states_of(database_url: str) -> dict[UUID, str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("select content_id, status from contents").fetchall()
    return {content_id: status for content_id, status in rows}


def test_an_accepted_job_waiting_as_an_unknown_outcome_becomes_processing(empty_database_url):
    config = alembic(empty_database_url)
    command.upgrade(config, "0011")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        profile_id = uuid4()
        conn.execute(
            "insert into profiles (profile_id, name, upload_post_user, timezone)"
            " values (%s, 'p', 'u', 'UTC')",
            (profile_id,),
        )
        accepted = a_content(conn, profile_id, 1, ["accepted"])
        lost_after_accepted = a_content(conn, profile_id, 2, ["accepted", "unknown"])
        timed_out = a_content(conn, profile_id, 3, ["unknown"])

    command.upgrade(config, "head")
    assert states_of(empty_database_url) == {
        accepted: "processing",
        lost_after_accepted: "unknown_outcome",
        timed_out: "unknown_outcome",
    }

    command.downgrade(config, "0011")
    assert set(states_of(empty_database_url).values()) == {"unknown_outcome"}
    command.upgrade(config, "head")
