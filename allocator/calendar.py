"""A calendar of one (profile, platform): every slot instant of its schedule in a window, free or
with the content in it, plus the contents at instants that are no slot today (booked under an
older schedule). Pure: the service reads the rows (allocator/calendar.sql) and hands them here.

GetCalendar answers with it; `queuelabs schedule week` and `schedule show` print it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from allocator.slots import SlotRule, instants_between
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import Platform

# The widest window one GetCalendar answers (five weeks: a month view and its edges).
MAX_WINDOW = timedelta(days=35)
DEFAULT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class CalendarEntry:
    """One instant of a calendar: free (content_id None), or with the content there."""

    scheduled_at: datetime
    local_time: str  # "2026-12-08T09:00", in the profile's timezone
    slot_id: UUID | None  # None: the instant is no slot of today's schedule
    content_id: UUID | None = None
    title: str = ""
    state: ContentState | None = None

    @property
    def free(self) -> bool:
        return self.content_id is None


@dataclass(frozen=True)
class Calendar:
    profile_id: UUID
    platform: Platform
    timezone: str
    entries: tuple[CalendarEntry, ...]


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """`at` as the wall clock of `zone` shows it, to the minute."""
    return at.astimezone(zone).isoformat(timespec="minutes")[:16]  # (strftime: 3x the time)


def calendar_entries(
    rules: Iterable[SlotRule],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    contents: Iterable[Mapping[str, Any]],
) -> tuple[CalendarEntry, ...]:
    """Every slot instant in [start, end) once, with the content there if any (several when
    several spent one instant: the holder first), and every content at an instant that is no
    slot; in time order. `contents`: rows with content_id, scheduled_at, status and title, in
    time order, the holder first at an instant."""
    slots = dict(instants_between(rules, zone, start, end))
    by_instant: dict[datetime, list[CalendarEntry]] = {}
    for row in contents:
        at: datetime = row["scheduled_at"]
        by_instant.setdefault(at, []).append(
            CalendarEntry(
                at,
                local_time(at, zone),
                slots.get(at),
                row["content_id"],
                row["title"],
                ContentState(row["status"]),
            )
        )
    for at, slot_id in slots.items():
        if at not in by_instant:  # (not setdefault: that would build the free entry anyway)
            by_instant[at] = [CalendarEntry(at, local_time(at, zone), slot_id)]
    return tuple(entry for at in sorted(by_instant) for entry in by_instant[at])
