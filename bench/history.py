"""A long history, seeded set-based (SQL, not RPCs): finished contents with their attempts and
success records, shaped like QueueLabs' own days (profiles x TikTok and Instagram x 6 slots a
day, every 4 hours, going back as far as the count needs).

Of every 50 contents of a key: 1 removed before its slot (no attempt), 2 failed (503, 503, then
a 400: three attempts), 1 uploaded after a lost answer (504, then a reconciliation that found it
published); the rest uploaded, TikTok in one call, Instagram accepted in async mode and then
found published by a status look-up. Every uploaded content has its success record. Texts have
the lengths real ones have (a CDN address, a title, a caption), so the bytes a content costs
can be read off a seeded database.

Used by `bench.history_cost` (2 million contents, the benchmarks against an empty database),
its footprint (bytes per content) and `tests/test_history_plans.py` (every hot statement's
plan)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from queuelabs.database import migrate

HISTORY_PROFILE = "history-"  # the name prefix of the profiles the history brings


# The texts of a content as QueueLabs' own are, for the history's contents and the benchmarks'
# new ones alike: a new content the size of an old one is what production inserts (a smaller
# one would fit the few bytes left at the end of nearly every page of history, and cost a
# page write of its own that a real one does not).
MEDIA_URL = "https://cdn.queuelabs.example/media/{}.mp4"  # {}: a UUID
TITLE = "Konten harian #{}"  # {}: its number
CAPTION = (
    "Caption for the day: what we made, who it is for, and where to find more of it. "
    "#queuelabs #daily #shorts"
)


def uuid7() -> uuid.UUID:
    """A version 7 UUID (RFC 9562): milliseconds since the epoch first, then random bits, so
    ids made one after another sort together."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant
    return uuid.UUID(int=value)


# Takes the new contents (CTE `c`: content_id, profile_id, platform, status, retry_count,
# scheduled_at, uploaded_at) and writes their attempts and success records in the same
# statement; the foreign keys are checked at its end, when all three are in.
_ATTEMPTS_AND_SUCCESSES = """,
attempts as (
    insert into upload_attempts (content_id, number, kind, request_id, idempotency_key, worker,
                                 started_at, finished_at, outcome, http_status, error)
    select c.content_id, a.number, a.kind, gen_random_uuid()::text,
           'queuelabs:' || c.content_id || ':' || c.platform || ':1',
           'uploader-7f3a9c:worker-' || (a.number %% 8),
           c.scheduled_at + a.number * interval '1 minute',
           c.scheduled_at + a.number * interval '1 minute' + interval '2 seconds',
           a.outcome, a.http_status, a.error
      from c
     cross join lateral (values
        (1, 'publish',
            case when c.status = 'failed' then 'retryable'
                 when c.retry_count = 1 then 'unknown'
                 when c.platform = 'instagram' then 'accepted'
                 else 'published' end,
            case when c.status = 'failed' then 503 when c.retry_count = 1 then 504 else 200 end,
            case when c.status = 'failed' then 'Upload-Post answered 503 Service Unavailable'
                 when c.retry_count = 1 then 'Upload-Post answered 504 Gateway Timeout'
                 else '' end),
        (2, case when c.status = 'failed' then 'publish' else 'reconcile' end,
            case when c.status = 'failed' then 'retryable' else 'published' end,
            case when c.status = 'failed' then 503 else 200 end,
            case when c.status = 'failed' then 'Upload-Post answered 503 Service Unavailable'
                 else '' end),
        (3, 'publish', 'failed', 400, 'Upload-Post answered 400: video exceeds the length limit')
     ) as a(number, kind, outcome, http_status, error)
     where c.status <> 'removed'
       and (a.number = 1
            or (a.number = 2 and (c.status = 'failed' or c.retry_count = 1
                                  or c.platform = 'instagram'))
            or (a.number = 3 and c.status = 'failed'))),
successes as (
    insert into upload_successes (content_id, platform, request_id, post_url, platform_post_id,
                                  uploaded_at)
    select content_id, platform, gen_random_uuid()::text,
           'https://www.' || platform || '.com/p/' || substr(md5(content_id::text), 1, 12),
           substr(md5(content_id::text), 1, 19), uploaded_at
      from c where status = 'uploaded')
select count(*) from c
"""

# Where in the mix of 50 a key's n-th content falls: keys start at different places, so even
# a short history of each key holds the whole mix.
_MIX = " lateral (select (n + get_byte(uuid_send(k.profile_id), 0)) %% 50 as m) x"

# Which of a key's contents (numbered n = 1, 2, ... back in time) ends how; texts as real ones.
_CONTENT_COLUMNS = """
    insert into contents (content_id, profile_id, platform, status, slot_id, scheduled_at,
                          media_type, media_url, title, description, retry_count, status_reason,
                          created_at, updated_at, removed_at, idempotency_generation, post_url,
                          uploaded_at)
    select gen_random_uuid(), k.profile_id, k.platform,
           case when m = 0 then 'removed' when m in (1, 2) then 'failed'
                else 'uploaded' end,
           gen_random_uuid(), t, 'video',
           replace(%(media_url)s, '{}', gen_random_uuid()::text),
           replace(%(title)s, '{}', n::text),
           %(caption)s,
           case when m in (1, 2) then 2 when m = 3 then 1 else 0 end,
           case when m in (1, 2)
                then 'Upload-Post answered 400: video exceeds the length limit' else '' end,
           t - interval '1 day', t + interval '3 minutes',
           case when m = 0 then t - interval '2 hours' end,
           1,
           case when m not in (0, 1, 2)
                then 'https://www.' || k.platform || '.com/p/' || n else '' end,
           case when m not in (0, 1, 2) then t + interval '3 minutes' end
"""


def seed_history(database_url: str, contents: int, profiles: int = 10_000) -> int:
    """`profiles` new profiles (named history-N), each with TikTok and Instagram schedules and
    contents / (2 x profiles) finished contents a key at 4-hour steps back from yesterday;
    returns how many contents it wrote."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into profiles (profile_id, name, upload_post_user, timezone)"
            " select gen_random_uuid(), %s || n, 'history-user-' || n, 'Asia/Jakarta'"
            "   from generate_series(1, %s) n",
            (HISTORY_PROFILE, profiles),
        )
        written = _finished(
            conn,
            keys="select profile_id, p.platform from profiles,"
            " unnest(array['tiktok', 'instagram']) as p(platform) where name like %(prefix)s",
            latest="date_trunc('day', now()) - interval '1 day'",
            step="4 hours",
            per_key=max(1, contents // (2 * profiles)),
        )
        conn.execute("vacuum analyze")
    return written


def add_key_history(database_url: str, per_key: int) -> int:
    """`per_key` finished contents for every scheduled key that is not the history's own (a
    benchmark's keys), hourly back from two days ago, so its daily caps see none of them;
    returns how many contents it wrote."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        written = _finished(
            conn,
            keys="select s.profile_id, s.platform from schedules s"
            " join profiles p using (profile_id) where p.name not like %(prefix)s",
            latest="date_trunc('hour', now()) - interval '2 days'",
            step="1 hour",
            per_key=per_key,
        )
        conn.execute("analyze")
    return written


def _finished(
    conn: psycopg.Connection[Any], *, keys: str, latest: str, step: str, per_key: int
) -> int:
    """`per_key` finished contents for each (profile_id, platform) the query `keys` yields, one
    every `step` back from the SQL instant `latest`, with their attempts and success records,
    in one statement; returns how many contents it wrote."""
    statement = (
        f"with c as ({_CONTENT_COLUMNS}"
        f"  from ({keys}) k,"
        f"       generate_series(1, %(per_key)s) n, {_MIX},"
        f"       lateral (select {latest} - n * interval '{step}' as t) s"
        "  returning content_id, profile_id, platform, status, retry_count, scheduled_at,"
        f"            uploaded_at){_ATTEMPTS_AND_SUCCESSES}"
    )
    row = conn.execute(
        statement,
        {
            "prefix": HISTORY_PROFILE + "%",
            "per_key": per_key,
            "media_url": MEDIA_URL,
            "title": TITLE,
            "caption": CAPTION,
        },
    ).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def history_template(server_url: str, contents: int) -> Iterator[str]:
    """A migrated database holding `contents` of history, to clone databases from (a clone is a
    file copy: far quicker than seeding again); dropped at the end."""
    name = f"queuelabs_history_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        database_url = make_conninfo(server_url, dbname=name)
        migrate(database_url)
        if contents:
            seed_history(database_url, contents)
        yield name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
