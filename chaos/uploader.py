"""Uploader chaos: two Uploader replicas, one SIGKILLed and started again every 5 s, publish
contents through a sandbox that fails a fifth of all requests, each in one of the documented
ways (a 504 after and before the upload, 500/502/503, a 429 with Retry-After, the connection
reset before and after, an answer slower than the read timeout, an async job that fails, a
platform refusing in a 200, a status that cannot be read, a bad request).

The sandbox's Idempotency-Key deduplication is off unless asked for (`--dedupe`): what keeps a
content to one publication is the Uploader's own reconciliation, not Upload-Post's memory.

What must hold at the end, counted from the database and from the sandbox's own records: every
content ended uploaded or failed (none lost); an uploaded content was published exactly once;
a failed content was published never, and its reason names a fault it met; no content was
published twice; `queuelabs check` finds nothing; and neither the Upload-Post API key nor a
bearer token appears in any line a replica or the sandbox logged, nor in any reason or error the
database holds.

Each kill lands while its victim holds contents mid-publish: the sandbox holds posting requests
unanswered until the victim has claimed one, then the kill comes, then the requests go on.

The contents are assigned (through the Allocator's API) to slots already past, so they are all
due at once: a herd. The Allocator runs in this process on a clock two days behind, so a
content that runs out of retries gets a new slot that is due at once too. Retry waits are
scaled by 0.05 (Instagram 1.5 s, 3 s, 6 s), read timeouts are 2 s, leases 4 s.

Run: `uv run python -m chaos.uploader --contents 10000` (BENCH_DATABASE_URL, DATABASE_URL, or an
embedded PostgreSQL; a database of its own, dropped at the end). Loopback only; it stops by
itself (`--limit` seconds at most).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import secrets
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import LiteralString

import grpc
import httpx
import psycopg

from allocator.server import start_allocator
from allocator.settings import AllocatorSettings
from bench.database import bench_database
from bench.processes import wait_for_port
from chaos.replica import Replica
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.audit import audit
from queuelabs.clock import FakeClock
from queuelabs.platforms import Platform
from queuelabs.security import Security
from sandbox.faults import EVERY_FAULT

KILL_EVERY = 5.0  # seconds
HOLD_AT_MOST = 1.5  # seconds a kill waits for its victim to hold a claim: under the read timeout
FAULT_RATE = 0.2
PER_KEY = 100  # contents per profile and platform: slots every 10 minutes, two days back
PLATFORMS = (pb.PLATFORM_INSTAGRAM, pb.PLATFORM_TIKTOK)  # async and synchronous uploads
EVERY_TEN_MINUTES = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(0, 60, 10)]

# What a failed content's reason says when a fault caused it, by fault name.
REASON_OF = {
    "400": "HTTP 400",
    "500": "HTTP 500",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "429": "HTTP 429",
    "504_after": "504",
    "504_before": "504",
    "drop_before": "connection lost",
    "drop_after": "connection lost",
    "slow": "read timeout",
    "async_fail": "async_fail",
    "partial": "partial",
    "status_unreadable": "not readable",
}


@dataclass
class Tally:
    contents: int = 0
    kills: int = 0
    claims_killed: int = 0  # contents a killed replica held mid-publish when it died
    seconds: float = 0.0
    requests: int = 0  # to the sandbox's API
    faults: Counter[str] = field(default_factory=Counter)  # met, by name
    # The sandbox's own record, by content id: the faults each met, its publications.
    met: dict[str, set[str]] = field(default_factory=dict)
    publications: Counter[str] = field(default_factory=Counter)
    uploaded: int = 0
    failed: int = 0
    failed_explained: int = 0
    lost: int = -1  # neither uploaded nor failed when the run ended
    published_twice: int = -1
    uploaded_unpublished: int = -1
    failed_published: int = -1
    failed_unexplained: list[str] = field(default_factory=list)
    audit_findings: int = -1
    log_lines: int = 0
    secrets_in_logs: int = -1
    secrets_in_database: int = -1

    def holds(self) -> bool:
        return (
            self.lost == 0
            and self.published_twice == 0
            and self.uploaded_unpublished == 0
            and self.failed_published == 0
            and not self.failed_unexplained
            and self.audit_findings == 0
            and self.secrets_in_logs == 0
            and self.secrets_in_database == 0
            and self.uploaded + self.failed == self.contents
        )

    def report(self) -> str:
        met = ", ".join(f"{name} {n}" for name, n in sorted(self.faults.items()))
        return (
            f"contents {self.contents:,} in {self.seconds:.1f} s; kills {self.kills} (holding"
            f" {self.claims_killed:,} claims mid-publish); requests"
            f" to Upload-Post {self.requests:,}, faults met {sum(self.faults.values()):,}"
            f" ({met})\n"
            f"uploaded {self.uploaded:,} (published exactly once each: "
            f"{self.uploaded - self.uploaded_unpublished:,}); failed {self.failed:,} (reason"
            f" naming a fault met: {self.failed_explained:,})\n"
            f"lost: {self.lost}; published twice: {self.published_twice}; uploaded but never"
            f" published: {self.uploaded_unpublished}; failed but published:"
            f" {self.failed_published}; failed for no fault met:"
            f" {len(self.failed_unexplained)} {self.failed_unexplained[:5] or ''};"
            f" queuelabs check findings: {self.audit_findings}\n"
            f"log lines written by the replicas and the sandbox: {self.log_lines:,}; holding the"
            f" API key or a token: {self.secrets_in_logs}; reasons and errors in the database"
            f" holding one: {self.secrets_in_database}"
        )


@dataclass(frozen=True)
class Secrets:
    api_key: str = field(default_factory=lambda: f"key-chaos-{secrets.token_hex(16)}")
    allocator_token: str = field(default_factory=lambda: f"tok-alloc-{secrets.token_hex(16)}")
    uploader_token: str = field(default_factory=lambda: f"tok-upl-{secrets.token_hex(16)}")

    def all(self) -> tuple[str, ...]:
        return (self.api_key, self.allocator_token, self.uploader_token)


def run(
    database_url: str, contents: int, limit: float = 3600, seed: int = 1, *, dedupe: bool = False
) -> Tally:
    """The whole run on `database_url` (migrated, empty)."""
    keys = Secrets()
    with tempfile.TemporaryDirectory(prefix="queuelabs-chaos-") as scratch:
        sandbox = Replica(
            "sandbox",
            "SANDBOX_LISTEN",
            {
                "SANDBOX_API_KEY": keys.api_key,
                "SANDBOX_ASYNC_SECONDS": "0.5",
                "SANDBOX_REQUESTS_PER_MINUTE": "0",
                "SANDBOX_POSTS_PER_MINUTE_PER_PROFILE": "0",
                **{f"UPLOAD_POST_DAILY_CAP_{p.name}": "100000" for p in Platform},
                "SANDBOX_FAULT_RATE": str(FAULT_RATE),
                "SANDBOX_FAULT_MIX": ",".join(EVERY_FAULT),
                "SANDBOX_FAULT_SEED": str(seed),
            },
            Path(scratch),
        )
        sandbox.start()
        try:
            assert sandbox.process is not None
            wait_for_port(sandbox.port, sandbox.process)
            httpx.post(
                f"http://{sandbox.address}/_sandbox/settings", json={"dedupe": dedupe}, timeout=10
            ).raise_for_status()
            tally = asyncio.run(_drive(database_url, sandbox, contents, limit, keys, Path(scratch)))
        finally:
            sandbox.stop()
        lines = [line for log in Path(scratch).glob("*.log") for line in _lines(log)]
    tally.log_lines = len(lines)
    tally.secrets_in_logs = sum(1 for line in lines if any(s in line for s in keys.all()))
    _count(database_url, tally, keys)
    return tally


def _lines(log: Path) -> list[str]:
    return log.read_text(errors="replace").splitlines()


async def _drive(
    database_url: str, sandbox: Replica, contents: int, limit: float, keys: Secrets, logs: Path
) -> Tally:
    tally = Tally(contents=contents)
    allocator = await start_allocator(
        AllocatorSettings(
            database_url,
            listen="127.0.0.1:0",
            pool_size=4,
            lead_time=timedelta(0),
            daily_caps={},  # slots every ten minutes: more than a cap allows, not what is tested
            security=Security(tokens={"uploader": keys.allocator_token}),
        ),
        FakeClock(datetime.now(UTC) - timedelta(days=2)),
    )
    env = {
        "DATABASE_URL": database_url,
        "ALLOCATOR_ADDR": f"127.0.0.1:{allocator.port}",
        "ALLOCATOR_TOKEN": keys.allocator_token,
        "AUTH_TOKENS": f"ops:{keys.uploader_token}",
        "UPLOAD_POST_BASE_URL": f"http://{sandbox.address}/api",
        "UPLOAD_POST_API_KEY": keys.api_key,
        "UPLOADER_LEASE_SECONDS": "4",
        "UPLOADER_READ_TIMEOUT_SECONDS": "2",  # the sandbox's slow answers come after 5 s
        "UPLOADER_RETRY_SCALE": "0.05",
        "UPLOADER_IDLE_SECONDS": "0.05",
        "UPLOADER_MAX_LATENESS_SECONDS": "604800",
        "UPLOAD_POST_REQUESTS_PER_MINUTE": "1000000",  # pacing has its own tests and bench
        "UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE": "100000",
    }
    replicas = [Replica("uploader", "UPLOADER_LISTEN", env, logs) for _ in range(2)]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{allocator.port}")
    try:
        await _assign(AllocatorStub(channel), contents, keys.allocator_token)
        started = time.monotonic()
        for replica in replicas:
            replica.start()
        try:
            await _until_settled(database_url, sandbox, replicas, contents, limit, tally)
        finally:
            tally.seconds = time.monotonic() - started
            for replica in replicas:
                replica.stop()
    finally:
        await channel.close()
        await allocator.stop(grace=1)
    async with httpx.AsyncClient(base_url=f"http://{sandbox.address}", timeout=60) as http:
        record = (await http.get("/_sandbox/log")).json()["requests"]
        published = (await http.get("/_sandbox/publications")).json()["publications"]
    tally.requests = len(record)
    tally.faults = Counter(entry["fault"] for entry in record if entry["fault"])
    for entry in record:
        if entry["fault"] and entry["key"]:
            met = tally.met.setdefault(_content_of(entry["key"]), set())
            met.add(entry["fault"].split(":")[0])
    tally.publications = Counter(_content_of(p["idempotency_key"]) for p in published)
    return tally


def _content_of(idempotency_key: str) -> str:
    return idempotency_key.split(":")[1]  # queuelabs:<content>:<platform>:<generation>


async def _assign(allocator: AllocatorStub, contents: int, token: str) -> None:
    """Profiles with an Instagram and a TikTok schedule of a slot every ten minutes, and
    `contents` contents among them, PER_KEY a key, through the Allocator's API."""
    metadata = (("authorization", f"Bearer {token}"),)
    keys = max(1, math.ceil(contents / PER_KEY))
    slots = [pb.Slot(local_time=t) for t in EVERY_TEN_MINUTES]
    count = itertools.count()
    for k in range(math.ceil(keys / len(PLATFORMS))):
        profile_id = str(uuid.uuid4())
        await allocator.UpsertProfile(
            pb.UpsertProfileRequest(
                profile_id=profile_id,
                name=f"chaos {k}",
                upload_post_user=f"chaos{k}",
                timezone="UTC",
            ),
            metadata=metadata,
            timeout=30,
        )
        for platform in PLATFORMS:
            await allocator.SetSchedule(
                pb.SetScheduleRequest(profile_id=profile_id, platform=platform, slots=slots),
                metadata=metadata,
                timeout=30,
            )
            left = contents - next(count) * PER_KEY
            for first in range(0, min(PER_KEY, max(0, left)), 100):
                batch = [
                    pb.Content(
                        content_id=str(uuid.uuid4()),
                        media_type=pb.MEDIA_TYPE_VIDEO,
                        media_url="https://cdn.example.com/clip.mp4",
                        title=f"chaos {k} {first + i}",
                    )
                    for i in range(min(100, PER_KEY - first, left - first))
                ]
                await allocator.BatchAssign(
                    pb.BatchAssignRequest(profile_id=profile_id, platform=platform, contents=batch),
                    metadata=metadata,
                    timeout=60,
                )


async def _until_settled(
    database_url: str,
    sandbox: Replica,
    replicas: list[Replica],
    contents: int,
    limit: float,
    tally: Tally,
) -> None:
    """Kills a replica (taking turns) and starts it again at once: first when a tenth of the
    contents have settled, so that the first kill lands mid-run however fast the machine, then
    KILL_EVERY seconds after the last one restarted is listening again (on a loaded machine a
    restart is slow, and killing on the wall clock alone would keep both replicas down); until
    every content is uploaded or failed, or `limit` seconds have passed. Each kill lands while
    the victim holds contents mid-publish (see `_kill_mid_publish`)."""
    deadline = time.monotonic() + limit
    next_kill: float | None = None
    restarting: Replica | None = None
    victims = itertools.cycle(replicas)
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
        httpx.AsyncClient(base_url=f"http://{sandbox.address}", timeout=10) as control,
    ):
        while time.monotonic() < deadline:
            settled = await _scalar(
                conn, "select count(*) from contents where status in ('uploaded', 'failed')"
            )
            if settled >= contents:
                return
            if next_kill is None and restarting is None and settled >= contents / 10:
                next_kill = time.monotonic()
            if restarting is not None and _listening(restarting.port):
                restarting, next_kill = None, time.monotonic() + KILL_EVERY
            if next_kill is not None and time.monotonic() >= next_kill:
                victim = next(victims)
                tally.claims_killed += await _kill_mid_publish(conn, control, victim)
                tally.kills += 1
                victim.start()
                restarting, next_kill = victim, None
            await asyncio.sleep(0.2)


async def _kill_mid_publish(
    conn: psycopg.AsyncConnection[tuple[int]], control: httpx.AsyncClient, victim: Replica
) -> int:
    """SIGKILLs `victim` while it holds contents mid-publish, and returns how many it held.
    The sandbox holds posting requests unanswered meanwhile, so that a claim the victim has
    made stays mid-publish until the kill, however fast the machine; the kill comes at once
    when the victim holds one, else after HOLD_AT_MOST (it had nothing due). Held requests go
    on when released: the victim's as a post whose sender died, the other replica's as a
    slow answer."""
    assert victim.process is not None
    owner = f"%:{victim.process.pid}:%"
    held_by_victim: LiteralString = (
        "select count(*) from contents where status = 'uploading' and lease_owner like %s"
    )
    (await control.post("/_sandbox/settings", json={"hold": True})).raise_for_status()
    try:
        until = time.monotonic() + HOLD_AT_MOST
        while not await _scalar(conn, held_by_victim, owner):
            if time.monotonic() > until:
                break
            await asyncio.sleep(0.02)
        victim.kill()
        return await _scalar(conn, held_by_victim, owner)
    finally:
        (await control.post("/_sandbox/settings", json={"hold": False})).raise_for_status()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _scalar(
    conn: psycopg.AsyncConnection[tuple[int]], query: LiteralString, *params: object
) -> int:
    row = await (await conn.execute(query, params or None)).fetchone()
    return int(row[0]) if row else 0


def _count(database_url: str, tally: Tally, keys: Secrets) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select content_id::text, status, status_reason from contents"
        ).fetchall()
        held = conn.execute(
            "select (select count(*) from contents where status_reason like any(%(s)s))"
            " + (select count(*) from upload_attempts where error like any(%(s)s))",
            {"s": [f"%{secret}%" for secret in keys.all()]},
        ).fetchone()
    tally.secrets_in_database = int(held[0]) if held else -1
    tally.lost = tally.published_twice = tally.uploaded_unpublished = tally.failed_published = 0
    for content_id, status, reason in rows:
        published = tally.publications[content_id]
        tally.published_twice += published > 1
        if status == "uploaded":
            tally.uploaded += 1
            tally.uploaded_unpublished += published == 0
        elif status == "failed":
            tally.failed += 1
            tally.failed_published += published > 0
            met = tally.met.get(content_id, set())
            if any(REASON_OF[name] in reason for name in met):
                tally.failed_explained += 1
            else:
                tally.failed_unexplained.append(f"{content_id}: {reason} (met {sorted(met)})")
        else:
            tally.lost += 1
    tally.audit_findings = len(audit(database_url, datetime.now(UTC), timedelta(minutes=10)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contents", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=3600, help="seconds before giving up")
    parser.add_argument("--seed", type=int, default=1, help="the order of the sandbox's faults")
    parser.add_argument(
        "--dedupe", action="store_true", help="the sandbox deduplicates Idempotency-Keys"
    )
    args = parser.parse_args()
    with bench_database() as database_url:
        tally = run(database_url, args.contents, args.limit, args.seed, dedupe=args.dedupe)
    print(tally.report())
    sys.exit(0 if tally.holds() else 1)


if __name__ == "__main__":
    main()
