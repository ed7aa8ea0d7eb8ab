"""What a daily cap counts, read from the contents table both services share: the one query
behind the Allocator's choice of slot and the Uploader's check of an early publication."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from queuelabs.lifecycle import SLOT_HOLDING, ContentState
from queuelabs.platforms import Platform
from queuelabs.sql import QueryRunner, load_queries

QUERIES = load_queries(
    Path(__file__).with_name("counting.sql"),
    {"slot_holding": SLOT_HOLDING, "published": ContentState.UPLOADED},
)


async def counted_instants(
    conn: psycopg.AsyncConnection[Any],
    profile_id: UUID,
    platform: Platform,
    start: datetime,
    until: datetime,
    moving: UUID | None = None,
) -> list[datetime]:
    """The instants a cap counts for (profile, platform) in [start, until), sorted: queued
    contents at their slot, published ones when they were published; not `moving`."""
    rows = await QueryRunner(conn, QUERIES)._rows(
        "counted_instants",
        profile_id=profile_id,
        platform=platform.value,
        start=start,
        until=until,
        moving=moving,
    )
    return [r["at"] for r in rows]
