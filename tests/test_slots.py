"""Slot instants in a profile's timezone: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from allocator.slots import SlotRule, instants_between, slot_at, wall_clock_instant

BERLIN = ZoneInfo("Europe/Berlin")
JAKARTA = ZoneInfo("Asia/Jakarta")


def rule(at: str, weekdays: set[int] | None = None) -> SlotRule:
    return SlotRule(time.fromisoformat(at), frozenset(weekdays or ()), uuid4())


def test_jakarta_slots_fall_at_wib_wall_clock_times() -> None:
    rules = [rule(t) for t in ("02:00", "06:00", "10:00", "14:00", "18:00", "22:00")]
    start = datetime(2026, 5, 1, 17, 0, tzinfo=UTC)  # 00:00 WIB on May 2nd
    found = list(instants_between(rules, JAKARTA, start, start + timedelta(days=1)))
    assert [f"{at.astimezone(JAKARTA):%H:%M}" for at, _ in found] == [
        "02:00",
        "06:00",
        "10:00",
        "14:00",
        "18:00",
        "22:00",
    ]
    assert found[0][0] == datetime(2026, 5, 1, 19, 0, tzinfo=UTC)


def test_berlin_spring_forward_neither_skips_nor_doubles_a_slot() -> None:
    # 2026-03-29: clocks jump from 02:00 to 03:00 in Berlin.
    rules = [rule("02:30"), rule("06:00")]
    start = datetime(2026, 3, 27, 23, 0, tzinfo=UTC)  # Mar 28 00:00 CET
    found = list(instants_between(rules, BERLIN, start, start + timedelta(days=3)))
    assert [f"{at.astimezone(BERLIN):%m-%d %H:%M %Z}" for at, _ in found] == [
        "03-28 02:30 CET",
        "03-28 06:00 CET",
        "03-29 03:30 CEST",
        "03-29 06:00 CEST",  # 02:30 does not exist: an hour later
        "03-30 02:30 CEST",
        "03-30 06:00 CEST",
    ]


def test_berlin_fall_back_takes_the_first_of_a_repeated_time_once() -> None:
    # 2026-10-25: clocks go back from 03:00 to 02:00, so 02:30 happens twice.
    rules = [rule("02:30"), rule("06:00")]
    start = datetime(2026, 10, 23, 22, 0, tzinfo=UTC)  # Oct 24 00:00 CEST
    found = list(instants_between(rules, BERLIN, start, start + timedelta(days=3)))
    assert [f"{at.astimezone(BERLIN):%m-%d %H:%M %Z}" for at, _ in found] == [
        "10-24 02:30 CEST",
        "10-24 06:00 CEST",
        "10-25 02:30 CEST",
        "10-25 06:00 CET",  # the first 02:30 only
        "10-26 02:30 CET",
        "10-26 06:00 CET",
    ]
    day = [at for at, _ in found if at.astimezone(BERLIN).day == 25]
    assert day[1] - day[0] == timedelta(hours=4, minutes=30)  # 02:30 CEST to 06:00 CET


def test_a_skipped_time_landing_on_another_slot_gives_one_instant() -> None:
    rules = [rule("02:30"), rule("03:30")]
    day_start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # Mar 29 00:00 CET
    found = list(instants_between(rules, BERLIN, day_start, day_start + timedelta(hours=23)))
    assert len(found) == 1
    assert found[0][0] == wall_clock_instant(datetime(2026, 3, 29).date(), time(3, 30), BERLIN)


def test_weekdays_limit_the_days_a_slot_runs() -> None:
    rules = [rule("09:00", {1, 3})]  # Mondays and Wednesdays
    start = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday
    found = list(instants_between(rules, JAKARTA, start, start + timedelta(days=14)))
    assert [at.astimezone(JAKARTA).isoweekday() for at, _ in found] == [1, 3, 1, 3]


def test_instants_are_ordered_and_inside_the_window() -> None:
    rules = [rule("23:59"), rule("00:00"), rule("12:00")]
    start = datetime(2026, 1, 1, 5, 17, tzinfo=UTC)
    end = start + timedelta(days=10)
    found = [at for at, _ in instants_between(rules, JAKARTA, start, end)]
    assert found == sorted(found)
    assert all(start <= at < end for at in found)
    assert len(found) == 30


def test_slot_at_recognizes_slot_instants_only() -> None:
    six = rule("06:00")
    at = wall_clock_instant(datetime(2026, 7, 1).date(), time(6), JAKARTA)
    assert slot_at([six], JAKARTA, at) == six.slot_id
    assert slot_at([six], JAKARTA, at + timedelta(minutes=1)) is None
    assert slot_at([], JAKARTA, at) is None
