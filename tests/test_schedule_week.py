"""`queuelabs schedule week`: a week of one (profile, platform) as a grid a person reads at a
glance (days across, slot times down), drawn from GetCalendar; and `schedule show`, the list of
the coming days, from GetCalendar too. The picture is a pure function of the calendar, tested on
fixed data; the commands are run end to end against a real Allocator."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc

from commands.schedule import WIDTH, Seen, Slot, render_week, week_of
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import Platform
from tests.support.calls import assign, instant, make_profile, video
from tests.support.processes import QUEUELABS, service_process

JAKARTA = ZoneInfo("Asia/Jakarta")
HERE = Path(__file__).parent
PROFILE = "5b0c1f0e-6a36-4c57-a3a1-0d4f1c2b7e61"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=JAKARTA)


def slot(
    at: datetime,
    state: ContentState | None = None,
    title: str = "",
    content_id: str = "",
    on_schedule: bool = True,
) -> Slot:
    return Slot(at.astimezone(UTC), at, on_schedule, content_id, title, state)


def a_week() -> Seen:
    """06:00, 10:00 and 18:00 every day but Sunday's 18:00; a content published, one failed,
    one with a long title, one at 14:30, an instant of an older schedule."""
    slots = {
        at: slot(at)
        for day in range(7, 14)
        for hour in (6, 10, 18)
        if (at := local(day, hour)) != local(13, 18)
    }
    slots[local(7, 6)] = slot(local(7, 6), ContentState.UPLOADED, "Morning news", "c1")
    slots[local(7, 10)] = slot(local(7, 10), ContentState.FAILED, "Recipe", "c2")
    slots[local(8, 10)] = slot(
        local(8, 10), ContentState.SCHEDULED, "A very long title that will not fit", "c3"
    )
    slots[local(9, 14, 30)] = slot(
        local(9, 14, 30), ContentState.SCHEDULED, "Old slot", "c4", on_schedule=False
    )
    return Seen(PROFILE, Platform.TIKTOK, "Asia/Jakarta", [slots[at] for at in sorted(slots)])


def test_the_week_grid_has_days_across_times_down_titles_states_and_free_cells():
    shown = render_week(a_week(), date(2026, 12, 7), now=local(8, 12).astimezone(UTC))
    assert shown == (HERE / "support" / "week_grid.txt").read_text().rstrip("\n")
    assert max(len(line) for line in shown.splitlines()) <= WIDTH


def test_any_day_of_the_week_shows_that_week_and_other_weeks_are_left_out():
    seen = a_week()
    assert week_of(date(2026, 12, 10)) == week_of(date(2026, 12, 13)) == date(2026, 12, 7)
    ahead = render_week(seen, week_of(date(2026, 12, 10)), now=local(1, 9))
    assert "◂" not in ahead  # today is not in that week
    assert "│ - " not in ahead  # nothing has passed yet
    later = render_week(seen, date(2026, 12, 14), now=local(8, 12))
    assert "(no slots this week)" in later


async def queuelabs(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as its own process; the test's loop serves the Allocator meanwhile."""
    return await asyncio.to_thread(
        subprocess.run,
        [*QUEUELABS, *args],
        env={**os.environ, "METRICS_LISTEN": "off", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def cell(grid: str, at: datetime) -> str:
    """The grid's cell at the local time and weekday of `at` (Jakarta)."""
    seen = at.astimezone(JAKARTA)
    [row] = [line for line in grid.splitlines() if line.startswith(f"{seen:%H:%M} ")]
    return row.split("│")[seen.isoweekday()].strip()


async def test_schedule_week_prints_the_week_the_allocator_tells(database_url, db):
    with service_process("allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            allocator = AllocatorStub(channel)
            profile_id = await make_profile(allocator)
            start = datetime.now(UTC) + timedelta(days=1)
            news = await assign(allocator, profile_id, video(title="Morning news"), start)
            gone = await assign(allocator, profile_id, not_before=start)
            done = await assign(allocator, profile_id, video(title="Yesterday's"), start)
            await allocator.Release(pb.ReleaseRequest(content_id=gone.content_id))
        db.execute(
            "update contents set status = 'uploaded', uploaded_at = scheduled_at"
            " where content_id = %s",
            (done.content_id,),
        )
        day = instant(news.scheduled_at).astimezone(JAKARTA).date()
        week = ["--week", f"{day + timedelta(days=2):%Y-%m-%d}"]  # any day of that week
        run = await queuelabs(
            "schedule",
            "week",
            "--profile",
            profile_id,
            "--platform",
            "tiktok",
            *week,
            "--allocator",
            running.address,
        )
        assert run.returncode == 0, run.stderr
        grid = run.stdout
        monday = day - timedelta(days=day.weekday())
        assert f"week of {monday:%a %d %b} to " in grid.splitlines()[0]
        assert cell(grid, instant(news.scheduled_at)) == "Morning news"
        assert cell(grid, instant(gone.scheduled_at)) == "·"  # released: free again
        assert cell(grid, instant(done.scheduled_at)) == "✓ published"
        times = [line[:5] for line in grid.splitlines() if re.match(r"\d\d:\d\d ", line)]
        assert times == ["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"]
        assert max(len(line) for line in grid.splitlines()) <= WIDTH

        unknown = await queuelabs(
            "schedule",
            "week",
            "--profile",
            "0d3f0000-0000-4000-8000-000000000000",
            "--platform",
            "tiktok",
            "--allocator",
            running.address,
        )
        assert unknown.returncode == 1
        assert "NOT_FOUND: no profile 0d3f0000-0000-4000-8000-000000000000" in unknown.stderr
        by_name = await queuelabs(
            "schedule", "week", "--profile", "InfoKetua", "--platform", "tiktok"
        )
        assert by_name.returncode == 1
        assert "--profile: 'InfoKetua' is not a profile id (a UUID)" in by_name.stderr


async def test_schedule_week_sends_the_token_the_services_share(database_url):
    from dataclasses import replace

    from allocator.server import start_allocator
    from allocator.settings import AllocatorSettings
    from queuelabs.security import Security

    settings = AllocatorSettings(database_url, listen="127.0.0.1:0", pool_size=2)
    running = await start_allocator(
        replace(settings, security=Security(tokens={"uploader": "tok-week-51"}))
    )
    try:
        args = ["schedule", "week", "--profile", PROFILE, "--platform", "tiktok"]
        address = {"ALLOCATOR_ADDR": f"127.0.0.1:{running.port}"}
        without = await queuelabs(*args, **address)
        assert without.returncode == 1
        assert "UNAUTHENTICATED" in without.stderr
        with_token = await queuelabs(*args, **address, AUTH_TOKENS="uploader:tok-week-51")
        assert with_token.returncode == 1  # through the door, to a profile that is not there
        assert "NOT_FOUND: no profile" in with_token.stderr
        assert "tok-week-51" not in with_token.stderr + with_token.stdout
    finally:
        await running.stop(grace=1)
