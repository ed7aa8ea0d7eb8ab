"""The old system's assignment, kept only to prove the race test can fail: read the taken slots,
decide, then write, with nothing serializing concurrent callers (plan-en.md, problem 3)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from allocator.slots import SlotRule, instants_between

# The old edge function spent this long between reading availability and writing.
READ_TO_WRITE = 0.005


def naive_assign(conn: psycopg.Connection[Any], profile_id: str, not_before: datetime) -> datetime:
    """Assigns one new content to the first slot it sees as free; returns that instant."""
    zone = ZoneInfo(
        conn.execute(
            "select timezone from profiles where profile_id = %s", (profile_id,)
        ).fetchone()[0]  # type: ignore[index]
    )
    rules = [
        SlotRule(r[0], frozenset(r[1]), r[2])
        for r in conn.execute(
            "select local_time, weekdays, slot_id from schedule_slots"
            " where profile_id = %s and platform = 'tiktok'",
            (profile_id,),
        )
    ]
    taken = {
        r[0]
        for r in conn.execute(
            "select scheduled_at from contents where profile_id = %s and platform = 'tiktok'"
            " and status = 'scheduled' and scheduled_at >= %s",
            (profile_id, not_before),
        )
    }
    time.sleep(READ_TO_WRITE)  # real: the old function's gap, where the race it lost happens
    for at, slot_id in instants_between(rules, zone, not_before, not_before + timedelta(days=365)):
        if at not in taken:
            conn.execute(
                "insert into contents (content_id, profile_id, platform, status, slot_id,"
                " scheduled_at, media_type, media_url)"
                " values (%s, %s, 'tiktok', 'scheduled', %s, %s, 'video', 'https://x/v.mp4')",
                (uuid.uuid4(), profile_id, slot_id, at),
            )
            return at
    raise RuntimeError("no free slot")


def naive_move(
    conn: psycopg.Connection[Any], profile_id: str, content_id: str, to: datetime
) -> bool:
    """Moves a content to `to` if no content is seen there; True when it moved. Nothing
    serializes two such moves: both may see the instant free."""
    held = conn.execute(
        "select count(*) from contents where profile_id = %s and platform = 'tiktok'"
        " and scheduled_at = %s and status = 'scheduled'",
        (profile_id, to),
    ).fetchone()
    time.sleep(READ_TO_WRITE)
    if held and held[0]:
        return False
    conn.execute("update contents set scheduled_at = %s where content_id = %s", (to, content_id))
    return True
