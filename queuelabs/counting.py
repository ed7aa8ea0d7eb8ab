"""What a daily cap counts, read from the contents table both services share: the one query
behind the Allocator's choice of slot and the Uploader's check of an early publication."""

from __future__ import annotations

from collections.abc import Sequence
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

# (profile, platform, start, until): what to count for one key, over [start, until)
Reach = tuple[UUID, Platform, datetime, datetime]


def counting_params(
    reaches: Sequence[Reach], moving: UUID | None = None, at_least: Sequence[int] | None = None
) -> dict[str, Any]:
    return {
        "profile_ids": [r[0] for r in reaches],
        "platforms": [r[1].value for r in reaches],
        "starts": [r[2] for r in reaches],
        "untils": [r[3] for r in reaches],
        "at_least": list(at_least) if at_least is not None else [0] * len(reaches),
        "moving": moving,
    }


async def counted_instants_of(
    conn: psycopg.AsyncConnection[Any],
    reaches: Sequence[Reach],
    moving: UUID | None = None,
    at_least: Sequence[int] | None = None,
) -> list[tuple[int, list[datetime] | None]]:
    """For each reach, how many instants a cap counts in it, and those instants, sorted, when
    there are at least `at_least` of them (else None; all of them when `at_least` is not
    given). Queued contents count at their slot, published ones when they were published; not
    `moving`. One round trip for all."""
    rows = await QueryRunner(conn, QUERIES)._tuples(
        "counted_instants", **counting_params(reaches, moving, at_least)
    )
    return [(n, list(instants) if instants is not None else None) for _, n, instants in rows]


async def counted_instants(
    conn: psycopg.AsyncConnection[Any],
    profile_id: UUID,
    platform: Platform,
    start: datetime,
    until: datetime,
    moving: UUID | None = None,
) -> list[datetime]:
    """The instants a cap counts for (profile, platform) in [start, until), sorted."""
    [(_, instants)] = await counted_instants_of(
        conn, [(profile_id, platform, start, until)], moving
    )
    return instants or []
