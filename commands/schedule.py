"""`queuelabs schedule week` and `schedule show`: a (profile, platform)'s calendar as the
Allocator tells it (GetCalendar), as a week grid or as a list of the coming days.

`week`: days across (Monday to Sunday, in the profile's timezone), slot times down (every HH:MM
that occurs that week), each cell the title of the content in that slot, or its state once it is
no longer waiting ("✓ published", "✗ failed"), "·" for a free slot, blank where that weekday
has no slot at that time. It fits 120 columns.

The address: `--allocator HOST:PORT`, else ALLOCATOR_ADDR (where the Uploader finds it), else
127.0.0.1 on the port of ALLOCATOR_LISTEN (50051). TLS as the services are set, and, when
AUTH_TOKENS is set, the token the Uploader itself sends (ALLOCATOR_TOKEN, else AUTH_TOKENS'
`uploader` entry, else its first).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import grpc

from allocator.calendar import MAX_WINDOW
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.caps import WINDOW, cap_variable
from queuelabs.env import ConfigError, Env
from queuelabs.fields import PLATFORM_TO_PB
from queuelabs.lifecycle import SLOT_HOLDING, ContentState
from queuelabs.platforms import Platform
from queuelabs.security import call_metadata, client_channel

CALL_SECONDS = 10.0
WIDTH = 120
TIME_COLUMN = 6  # "HH:MM "
CELL = (WIDTH - TIME_COLUMN) // 7 - 3  # each day: "│ " + cell + " "
FREE = "·"
PASSED = "-"  # a slot gone by with nothing posted in it
OFF_SCHEDULE = "*"  # a content at an instant that is no slot of today's schedule

_S = ContentState
# A content no longer waiting for its slot shows its state instead of its title.
SHOWN_STATE = {
    _S.UPLOADED: "✓ published",
    _S.FAILED: "✗ failed",
    _S.UPLOADING: "↑ publishing",
    _S.PROCESSING: "↑ publishing",
    _S.UNKNOWN_OUTCOME: "? checking",
    _S.RETRY_PENDING: "↻ retrying",
    _S.AWAITING_SLOT: "! needs slot",
    _S.REMOVED: "released",
}
LEGEND = (
    f"{FREE} free  {PASSED} passed unused  ✓ published  ✗ failed  ↑ publishing  ↻ retrying  "
    f"? checking  ! needs a new slot  {OFF_SCHEDULE} off schedule"
)


@dataclass(frozen=True)
class Slot:
    """One instant of a calendar, as GetCalendar tells it."""

    at: datetime
    local: datetime  # in the profile's timezone
    on_schedule: bool
    content_id: str
    title: str
    state: ContentState | None  # None: free

    @classmethod
    def from_pb(cls, slot: pb.CalendarSlot, zone: ZoneInfo) -> Slot:
        at = slot.scheduled_at.ToDatetime(tzinfo=UTC)
        state = ContentState(slot.status) if not slot.free and slot.status else None
        return cls(at, at.astimezone(zone), bool(slot.slot_id), slot.content_id, slot.title, state)


@dataclass(frozen=True)
class Seen:
    """What GetCalendar said about one (profile, platform) over a span."""

    profile_id: str
    platform: Platform
    timezone: str
    slots: list[Slot]


def allocator_address(env: Env, given: str | None) -> str:
    if given:
        return Env({"--allocator": given}).listen("--allocator", given)
    configured = env.text("ALLOCATOR_ADDR")
    if configured:
        return configured
    port = env.listen("ALLOCATOR_LISTEN", "0.0.0.0:50051").rpartition(":")[2]
    return f"127.0.0.1:{port}"


async def calendar(
    address: str, env: Env, profile_id: str, platform: Platform, start: datetime, end: datetime
) -> Seen:
    """Every slot instant in [start, end), asked in windows GetCalendar takes."""
    security = env.security()
    metadata = call_metadata(security)
    slots: list[Slot] = []
    timezone = "UTC"
    async with client_channel(address, security) as channel:
        stub = AllocatorStub(channel)
        begin = start
        while begin < end:
            until = min(end, begin + MAX_WINDOW)
            request = pb.GetCalendarRequest(
                profile_id=profile_id, platform=PLATFORM_TO_PB[platform]
            )
            request.start_time.FromDatetime(begin)
            request.end_time.FromDatetime(until)
            answer = await stub.GetCalendar(request, metadata=metadata, timeout=CALL_SECONDS)
            timezone = answer.timezone
            zone = ZoneInfo(timezone)
            slots += [Slot.from_pb(s, zone) for s in answer.slots]
            begin = until
    return Seen(profile_id, platform, timezone, slots)


# The week grid


def week_of(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def render_week(seen: Seen, monday: date, now: datetime) -> str:
    """The week from `monday` as a grid: days across, slot times down."""
    zone = ZoneInfo(seen.timezone)
    days = [monday + timedelta(days=i) for i in range(7)]
    today = now.astimezone(zone).date()
    cells: dict[tuple[time, date], list[Slot]] = {}
    for slot in seen.slots:
        if monday <= slot.local.date() <= days[-1]:
            key = (slot.local.time().replace(second=0, microsecond=0), slot.local.date())
            cells.setdefault(key, []).append(slot)
    times = sorted({at for at, _ in cells})
    sunday = days[-1]
    lines = [
        f"{seen.profile_id} · {seen.platform.value} · {seen.timezone} · week of "
        f"{monday:%a %d %b} to {sunday:%a %d %b %Y}",
        "",
        " " * TIME_COLUMN + "".join(f"│ {_head(day, today):<{CELL}} " for day in days).rstrip(),
        "─" * TIME_COLUMN + ("┼" + "─" * (CELL + 2)) * 7,
    ]
    for at in times:
        row = "".join(f"│ {_cell(cells.get((at, day), []), now):<{CELL}} " for day in days)
        lines.append(f"{at:%H:%M} {row}".rstrip())
    if not times:
        lines.append("(no slots this week)")
    lines += ["", LEGEND]
    return "\n".join(lines)


def _head(day: date, today: date) -> str:
    return f"{day:%a %d %b}" + (" ◂" if day == today else "")


def _cell(slots: Sequence[Slot], now: datetime) -> str:
    """What one (time, day) shows: nothing, free, a title or a state."""
    if not slots:
        return ""
    first = slots[0]
    if first.state is None:
        return FREE if first.at >= now else PASSED
    text = SHOWN_STATE.get(first.state) or first.title or first.content_id[:8]
    if not first.on_schedule:
        text = OFF_SCHEDULE + text
    more = f" +{len(slots) - 1}" if len(slots) > 1 else ""
    return _fit(text, CELL - len(more)) + more


def _fit(text: str, width: int) -> str:
    """`text` on one line, cut to `width` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


# The list of the coming days (`schedule show`)


def render_list(seen: Seen, start: datetime, days: int, cap: int | None) -> str:
    """The slots of [start, start + days) one a line, under a line per day; with a `cap`, each
    day says how full the fullest 24 hours from it are (counting what is queued or published at
    its slot)."""
    zone = ZoneInfo(seen.timezone)
    end = start + timedelta(days=days)
    counted = sorted(
        s.at
        for s in seen.slots
        if s.state is not None and (s.state in SLOT_HOLDING or s.state is ContentState.UPLOADED)
    )
    lines = [f"{seen.profile_id} · {seen.platform.value} · {seen.timezone} · next {days} days"]
    if cap is not None:
        lines.append(
            f"daily cap: {cap} {seen.platform.value} posts in any 24 hours "
            f"({cap_variable(seen.platform)})"
        )
    lines.append("")
    shown = [s for s in seen.slots if start <= s.at < end]
    day = None
    for slot in shown:
        if slot.local.date() != day:
            day = slot.local.date()
            fill = ""
            if cap is not None:
                begin = datetime.combine(day, time(0), zone)
                fill = f"  · fullest 24 h from this day: {_fullest_from(counted, begin)} of {cap}"
            lines.append(f"{slot.local:%a %d %b %Y}{fill}")
        state = slot.state.value if slot.state else "free"
        who = slot.content_id or "-"
        title = f'"{slot.title[:40]}"' if slot.title else ""
        off = "" if slot.on_schedule else "(off schedule)"
        lines.append(f"  {slot.local:%H:%M %Z}  {state:<16} {who:<36}  {title} {off}".rstrip())
    if not shown:
        lines.append("  (no slots in this window)")
    return "\n".join(lines)


def _fullest_from(counted: Sequence[datetime], day_start: datetime) -> int:
    """The most counted instants in a 24 h window that starts during the day from `day_start`."""
    starts = [day_start, *(t for t in counted if day_start <= t < day_start + timedelta(days=1))]
    return max(sum(1 for t in counted if s <= t < s + WINDOW) for s in starts)


# The commands


def profile_id_of(given: str) -> str:
    try:
        return str(UUID(given))
    except ValueError:
        raise ConfigError(f"--profile: {given[:64]!r} is not a profile id (a UUID)") from None


def run_week(env: Env, address: str | None, profile: str, platform: str, week: str | None) -> int:
    where = allocator_address(env, address)
    profile_id = profile_id_of(profile)
    now = datetime.now(UTC)
    if week:
        try:
            asked: date | None = date.fromisoformat(week)
        except ValueError:
            raise ConfigError(f"--week: {week[:32]!r} is not a date as YYYY-MM-DD") from None
        middle = datetime.combine(asked, time(0), UTC)  # type: ignore[arg-type]
    else:
        asked, middle = None, now
    # Eight days either side hold the week in any timezone (at most 14 h from UTC).
    span = timedelta(days=8)
    try:
        seen = asyncio.run(
            calendar(where, env, profile_id, Platform(platform), middle - span, middle + span)
        )
    except grpc.aio.AioRpcError as failed:
        print(
            f"queuelabs schedule week: {where}: {failed.code().name}: {failed.details()}",
            file=sys.stderr,
        )
        return 1
    today = now.astimezone(ZoneInfo(seen.timezone)).date()
    print(render_week(seen, week_of(asked or today), now))
    return 0


def run_show(
    env: Env, address: str | None, profile: str, platform: str, days: int, cap: int | None
) -> int:
    where = allocator_address(env, address)
    profile_id = profile_id_of(profile)
    if not 1 <= days <= 366:
        raise ConfigError(f"--days: {days} is outside 1..366")
    now = datetime.now(UTC)
    try:
        # A day either side: what the cap counts around the days shown.
        seen = asyncio.run(
            calendar(
                where,
                env,
                profile_id,
                Platform(platform),
                now - WINDOW,
                now + timedelta(days=days) + WINDOW,
            )
        )
    except grpc.aio.AioRpcError as failed:
        print(
            f"queuelabs schedule show: {where}: {failed.code().name}: {failed.details()}",
            file=sys.stderr,
        )
        return 1
    print(render_list(seen, now, days, cap))
    return 0
