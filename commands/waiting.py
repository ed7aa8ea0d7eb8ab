"""`queuelabs waiting`: what the contents in line wait for, per profile and platform, as the
Uploader tells it (ListUploads over the states in line, page after page): how many wait for
each reason and the earliest moment that reason lets one go, with a sentence from one of them.
What a person must act on (a pause, an account to reconnect) comes first.

The address: `--uploader HOST:PORT`, else 127.0.0.1 on the port of UPLOADER_LISTEN (50052). TLS
as the services are set (TLS_CERT_FILE, TLS_CA_FILE), and, when AUTH_TOKENS is set, the token
the Uploader itself sends (ALLOCATOR_TOKEN, else AUTH_TOKENS' `uploader` entry, else its first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc

from queuelabs.allocator.v1.allocator_pb2 import PLATFORM_UNSPECIFIED
from queuelabs.env import Env
from queuelabs.fields import PLATFORM_FROM_PB, PLATFORM_TO_PB
from queuelabs.lifecycle import IN_LINE
from queuelabs.platforms import Platform
from queuelabs.security import call_metadata, client_channel
from queuelabs.uploader.v1 import uploader_pb2 as pb
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub
from uploader.convert import STATE_TO_PB, WAIT_REASON_TO_PB
from uploader.waiting import WaitReason

PAGE_SIZE = 1000  # ListUploads' largest page
CALL_SECONDS = 10.0

# The order a person reads them in: what needs a person first, then what holds many contents
# back at once (caps, rates), then the ordinary waits.
FIRST_TO_LAST = [
    WaitReason.PAUSED,
    WaitReason.RECONNECT,
    WaitReason.DAILY_CAP,
    WaitReason.PLAN_RATE,
    WaitReason.PROFILE_RATE,
    WaitReason.RECONCILING,
    WaitReason.NEW_SLOT,
    WaitReason.RETRY,
    WaitReason.PROCESSING,
    WaitReason.NEXT_IN_LINE,
    WaitReason.SLOT,
]
NEEDS_A_PERSON = {WaitReason.PAUSED, WaitReason.RECONNECT}
REASON_FROM_PB = {value: reason for reason, value in WAIT_REASON_TO_PB.items()}
# What a reason with no `until` waits for.
UNTIL_SOMEONE = {
    WaitReason.PAUSED: "until resumed",
    WaitReason.RECONNECT: "until reconnected",
    WaitReason.NEXT_IN_LINE: "now",
}


@dataclass(frozen=True)
class Row:
    """The contents of one (profile, platform) that wait for one reason."""

    profile_id: str
    platform: Platform | None  # None: a platform this command does not know
    reason: WaitReason | None  # None: no reason given (an Uploader older than the field)
    count: int
    earliest: datetime | None
    detail: str  # the earliest one's


def uploader_address(env: Env, given: str | None) -> str:
    if given:
        return Env({"--uploader": given}).listen("--uploader", given)
    port = env.listen("UPLOADER_LISTEN", "0.0.0.0:50052").rpartition(":")[2]
    return f"127.0.0.1:{port}"


async def uploads_in_line(
    stub: UploaderStub,
    metadata: Sequence[tuple[str, str]],
    profile_id: str = "",
    platform: Platform | None = None,
) -> list[pb.Upload]:
    """Every content in line (of `profile_id`, on `platform`, when given), every page."""
    request = pb.ListUploadsRequest(
        profile_id=profile_id,
        platform=PLATFORM_TO_PB[platform] if platform else PLATFORM_UNSPECIFIED,
        states=sorted(STATE_TO_PB[state] for state in IN_LINE),
        page_size=PAGE_SIZE,
    )
    found: list[pb.Upload] = []
    while True:
        page = await stub.ListUploads(request, metadata=metadata, timeout=CALL_SECONDS)
        found.extend(page.uploads)
        if not page.next_page_token:
            return found
        request.page_token = page.next_page_token


def summary(uploads: Iterable[pb.Upload]) -> list[Row]:
    """One row per (profile, platform, reason), in the order a person reads them."""
    groups: dict[tuple[str, int, WaitReason | None], list[pb.Upload]] = {}
    for upload in uploads:
        reason = REASON_FROM_PB.get(upload.waiting.reason) if upload.HasField("waiting") else None
        groups.setdefault((upload.profile_id, upload.platform, reason), []).append(upload)
    rows = []
    for (profile_id, platform, reason), members in groups.items():
        first = min(members, key=_until_or_never)
        until = _until_or_never(first)
        rows.append(
            Row(
                profile_id,
                PLATFORM_FROM_PB.get(platform),
                reason,
                len(members),
                None if until == datetime.max.replace(tzinfo=UTC) else until,
                first.waiting.detail,
            )
        )
    # An account's rows together, those with the most pressing reason first (a pause above a
    # slot), and within an account its reasons in that order too.
    first_rank: dict[tuple[str, str], int] = {}
    for row in rows:
        key = _account(row)
        first_rank[key] = min(first_rank.get(key, len(FIRST_TO_LAST)), _rank(row))
    return sorted(rows, key=lambda r: (first_rank[_account(r)], _account(r), _rank(r)))


def render(rows: Sequence[Row], now: datetime) -> str:
    """The rows as a table, under a line that says what needs a person."""
    waiting = sum(r.count for r in rows)
    for_a_person = sum(r.count for r in rows if r.reason in NEEDS_A_PERSON)
    head = f"{waiting} content(s) in line at {now:%Y-%m-%d %H:%M:%S} UTC"
    if for_a_person:
        head += f"; {for_a_person} wait for a person (paused, or an account to reconnect)"
    if not rows:
        return head
    table = [("PROFILE", "PLATFORM", "WAITING FOR", "COUNT", "EARLIEST UNTIL", "DETAIL")]
    shown_key: tuple[str, Platform | None] | None = None
    for row in rows:
        key = (row.profile_id, row.platform)
        table.append(
            (
                row.profile_id if key != shown_key else "",
                (row.platform.value if row.platform else "?") if key != shown_key else "",
                _reason_name(row.reason),
                str(row.count),
                _until(row, now),
                row.detail,
            )
        )
        shown_key = key
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    lines = []
    for line in table:
        cells = [
            cell.rjust(width) if i == 3 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=False))
        ]
        lines.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join([head, "", *lines])


async def look(
    address: str, env: Env, profile_id: str, platform: Platform | None
) -> list[pb.Upload]:
    security = env.security()
    async with client_channel(address, security) as channel:
        return await uploads_in_line(
            UploaderStub(channel), call_metadata(security), profile_id, platform
        )


def run_waiting(env: Env, address: str | None, profile_id: str, platform: str | None) -> int:
    where = uploader_address(env, address)
    try:
        uploads = asyncio.run(
            look(where, env, profile_id, Platform(platform) if platform else None)
        )
    except grpc.aio.AioRpcError as failed:
        print(f"{where}: {failed.code().name}: {failed.details()}")
        return 1
    print(render(summary(uploads), datetime.now(UTC)))
    return 0


def _until_or_never(upload: pb.Upload) -> datetime:
    if upload.HasField("waiting") and upload.waiting.HasField("until"):
        return upload.waiting.until.ToDatetime(tzinfo=UTC)
    return datetime.max.replace(tzinfo=UTC)


def _rank(row: Row) -> int:
    return FIRST_TO_LAST.index(row.reason) if row.reason else len(FIRST_TO_LAST)


def _account(row: Row) -> tuple[str, str]:
    return row.profile_id, row.platform.value if row.platform else ""


def _reason_name(reason: WaitReason | None) -> str:
    if reason is None:
        return "(not said)"
    name = reason.value.replace("_", " ")
    return f"{name} (!)" if reason in NEEDS_A_PERSON else name


def _until(row: Row, now: datetime) -> str:
    if row.earliest is None:
        return UNTIL_SOMEONE.get(row.reason, "-") if row.reason else "-"
    at = row.earliest.astimezone(UTC)
    stamp = f"{at:%H:%M:%S}" if at.date() == now.date() else f"{at:%Y-%m-%d %H:%M}"
    return f"{stamp} ({_from_now(at - now)})"


def _from_now(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds <= 0:
        return "now"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return "in " + " ".join(parts)
