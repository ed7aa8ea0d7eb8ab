"""Where the slot instants of a schedule fall: wall-clock times in the profile's IANA timezone
turned into UTC instants, correct across daylight-saving changes. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from queuelabs.platforms import Platform

_SLOT_NAMESPACE = UUID("8d0a3c52-6f4e-4b8e-9a51-2b7f1c0e9d33")


@dataclass(frozen=True, order=True)
class SlotRule:
    """A recurring posting slot: `local_time` on the ISO `weekdays` (empty = every day)."""

    local_time: time
    weekdays: frozenset[int]
    slot_id: UUID

    def runs_on(self, day: date) -> bool:
        return not self.weekdays or day.isoweekday() in self.weekdays


def slot_id_for(profile_id: UUID, platform: Platform, local_time: time) -> UUID:
    """A slot's id: the same for the same (profile, platform, wall-clock time), forever."""
    return uuid5(_SLOT_NAMESPACE, f"{profile_id}/{platform.value}/{local_time:%H:%M}")


def wall_clock_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant at which clocks in `zone` show `at` on `day`.

    A time skipped by a spring-forward change lands where the clock would have been without the
    jump (02:30 on a day that jumps 02:00 -> 03:00 is 03:30); a time repeated by a fall-back
    change takes its first occurrence, so no slot is doubled.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)  # fold=0 does both


def instants_on(
    day: date, rules: Iterable[SlotRule], zone: ZoneInfo
) -> list[tuple[datetime, UUID]]:
    """The slot instants of one local day, in time order, each instant once."""
    seen: dict[datetime, UUID] = {}
    for rule in sorted(rules):
        if rule.runs_on(day):
            seen.setdefault(wall_clock_instant(day, rule.local_time, zone), rule.slot_id)
    return sorted(seen.items())


def instants_between(
    rules: Iterable[SlotRule], zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[tuple[datetime, UUID]]:
    """Every slot instant in [start, end), in time order, with the id of its slot."""
    rules = list(rules)
    if not rules:
        return
    # A local day's instants can fall a day either side of its UTC date; start one day early.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for instant, slot_id in instants_on(day, rules, zone):
            if start <= instant < end:
                yield instant, slot_id
        day += timedelta(days=1)


def slot_at(rules: Iterable[SlotRule], zone: ZoneInfo, instant: datetime) -> UUID | None:
    """The id of the slot that falls at `instant`, or None if no slot of the schedule does."""
    rules = list(rules)
    day = instant.astimezone(zone).date()
    for near in (day - timedelta(days=1), day, day + timedelta(days=1)):
        for found, slot_id in instants_on(near, rules, zone):
            if found == instant:
                return slot_id
    return None
