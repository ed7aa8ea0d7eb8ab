"""`queuelabs schedule show`: the coming slots of one (profile, platform) as a calendar, with
the content in each and its state, read straight from the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from allocator.slots import SlotRule, instants_between
from queuelabs.caps import WINDOW, cap_variable
from queuelabs.counting import QUERIES as COUNTING
from queuelabs.counting import counting_params
from queuelabs.database import connect
from queuelabs.lifecycle import SLOT_HOLDING
from queuelabs.platforms import Platform
from queuelabs.sql import sql_values


@dataclass(frozen=True)
class Entry:
    at: datetime
    content_id: UUID | None
    state: str
    title: str
    detail: str  # post URL, failure reason, or nothing


def read_entries(
    conn: psycopg.Connection[dict[str, object]] | psycopg.Connection[object],
    profile_id: UUID,
    platform: Platform,
    start: datetime,
    end: datetime,
) -> tuple[str, str, list[Entry]]:
    """(profile name, timezone, entries): every slot in [start, end), free or held, plus any
    content there at an instant that is no slot (booked under an older schedule)."""
    cur = conn.cursor(row_factory=dict_row)
    profile = cur.execute(
        "select name, timezone from profiles where profile_id = %s", (profile_id,)
    ).fetchone()
    if profile is None:
        raise LookupError(f"no profile {profile_id}")
    slots = cur.execute(
        "select local_time, weekdays, slot_id from schedule_slots"
        " where profile_id = %s and platform = %s",
        (profile_id, platform.value),
    ).fetchall()
    rules = [SlotRule(s["local_time"], frozenset(s["weekdays"]), s["slot_id"]) for s in slots]
    contents = cur.execute(
        "select content_id, scheduled_at, status, title, post_url, status_reason from contents"
        " where profile_id = %s and platform = %s and scheduled_at >= %s and scheduled_at < %s"
        f" order by scheduled_at, status in ({sql_values(SLOT_HOLDING)}) desc",  # holder first
        (profile_id, platform.value, start, end),
    ).fetchall()
    zone = ZoneInfo(str(profile["timezone"]))
    by_instant: dict[datetime, list[Entry]] = {}
    for c in contents:
        detail = c["post_url"] or c["status_reason"]  # where it went, or why it stands here
        by_instant.setdefault(c["scheduled_at"], []).append(
            Entry(c["scheduled_at"], c["content_id"], c["status"], c["title"], detail)
        )
    for at, _ in instants_between(rules, zone, start, end):
        by_instant.setdefault(at, [Entry(at, None, "free", "", "")])
    entries = [e for at in sorted(by_instant) for e in by_instant[at]]
    return str(profile["name"]), str(profile["timezone"]), entries


def read_counted(
    conn: psycopg.Connection[dict[str, object]] | psycopg.Connection[object],
    profile_id: UUID,
    platform: Platform,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    """What the daily cap counts from a day before `start` to a day after `end`."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        COUNTING["counted_instants"],
        counting_params([(profile_id, platform, start - WINDOW, end + WINDOW)]),
    ).fetchall()
    return list(rows[0]["instants"])


def render(
    name: str,
    timezone: str,
    platform: Platform,
    entries: list[Entry],
    days: int,
    cap: int | None = None,
    counted: Sequence[datetime] = (),
) -> str:
    """The calendar; with a `cap`, each day says how full the fullest 24 hours from it are."""
    zone = ZoneInfo(timezone)
    lines = [f"{name} · {platform.value} · {timezone} · next {days} days"]
    if cap is not None:
        lines.append(
            f"daily cap: {cap} {platform.value} posts in any 24 hours ({cap_variable(platform)})"
        )
    lines.append("")
    day = None
    for entry in entries:
        local = entry.at.astimezone(zone)
        if local.date() != day:
            day = local.date()
            fill = ""
            if cap is not None:
                begin = datetime.combine(day, time(0), zone)
                fill = f"  · fullest 24 h from this day: {_fullest_from(counted, begin)} of {cap}"
            lines.append(f"{local:%a %d %b %Y}{fill}")
        who = str(entry.content_id) if entry.content_id else "-"
        title = f'"{entry.title[:40]}"' if entry.title else ""
        lines.append(
            f"  {local:%H:%M %Z}  {entry.state:<16} {who:<36}  {title} {entry.detail}".rstrip()
        )
    if not entries:
        lines.append("  (no slots in this window)")
    return "\n".join(lines)


def show(
    database_url: str,
    profile: str,
    platform: Platform,
    days: int,
    now: datetime,
    cap: int | None = None,
) -> str:
    end = now + timedelta(days=days)
    with connect(database_url) as conn:
        profile_id = _profile_id(conn, profile)
        name, timezone, entries = read_entries(conn, profile_id, platform, now, end)
        counted = read_counted(conn, profile_id, platform, now, end) if cap else []
    return render(name, timezone, platform, entries, days, cap, counted)


def _fullest_from(counted: Sequence[datetime], day_start: datetime) -> int:
    """The most counted instants in a 24 h window that starts during the day from `day_start`."""
    starts = [day_start, *(t for t in counted if day_start <= t < day_start + timedelta(days=1))]
    return max(sum(1 for t in counted if s <= t < s + WINDOW) for s in starts)


def _profile_id(conn: psycopg.Connection[object], profile: str) -> UUID:
    """A profile by id, or by its name when that is unique."""
    try:
        return UUID(profile)
    except ValueError:
        rows = conn.execute(
            "select profile_id from profiles where name = %s", (profile,)
        ).fetchall()
        if len(rows) != 1:
            raise LookupError(
                f"{len(rows)} profiles are named {profile!r}; give the profile id"
            ) from None
        found: UUID = rows[0][0]  # type: ignore[index]
        return found
