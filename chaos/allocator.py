"""Allocator chaos: three replicas, one SIGKILLed and started again every 2 s, while clients
assign contents through the live ones and retry each unanswered call, with the same content
id, on the next replica, backing off between tries (10 ms doubling to 500 ms, with jitter) for
up to two minutes a content.

What must hold, counted from the database at the end: no slot holds two contents; every
acknowledged content holds the slot it was told (none moved, none lost); a content
acknowledged twice (a retry of a call whose answer was lost) was told the same slot both
times; `queuelabs check` finds nothing; the unique index never had to refuse a slot (every
replica logs each refusal; the locks make them impossible, so a line means a lock is missing);
and the bearer token every call carries appears in no line any replica logged.

Run: `uv run python -m chaos.allocator --contents 100000` (BENCH_DATABASE_URL, DATABASE_URL, or
an embedded PostgreSQL; a database of its own, dropped at the end). Contents start at `--rate`
a second (250), so the kills land all through the run. Loopback only; it stops by itself
(`--limit` seconds at most).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from allocator.service import INDEX_REFUSED
from bench.database import bench_database, slots_held
from chaos.replica import Replica
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.audit import audit

KEYS = 20  # profiles, LinkedIn, 48 slots a day: room for 350,000 contents in the horizon
IN_FLIGHT = 50
KILL_EVERY = 2.0  # seconds
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
}
# A client keeps asking for a content this long, backing off between tries as a gRPC retry
# policy does (no two replicas' restarts are instant on a loaded machine); a content still
# unanswered then is counted as not acknowledged.
PATIENCE = 120.0  # seconds
BACKOFF = (0.01, 0.5)  # seconds: the first wait, and the longest


@dataclass
class Tally:
    contents: int = 0
    kills: int = 0
    retries: int = 0
    acknowledged: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    told_twice_differently: int = 0
    not_acknowledged: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # non-retryable codes (should be none)
    stacked: int = -1
    moved: int = -1
    lost: int = -1
    audit_findings: int = -1
    log_lines: int = 0
    index_refusals: int = -1  # slots the unique index refused, as the replicas logged them
    secrets_in_logs: int = -1
    seconds: float = 0.0

    def holds(self) -> bool:
        return (
            self.stacked == 0
            and self.moved == 0
            and self.lost == 0
            and self.told_twice_differently == 0
            and self.audit_findings == 0
            and self.index_refusals == 0
            and self.secrets_in_logs == 0
            and not self.refused
            and self.not_acknowledged == 0
        )

    def report(self) -> str:
        return (
            f"contents {self.contents:,}, acknowledged {len(self.acknowledged):,} in"
            f" {self.seconds:.1f} s; kills {self.kills}, retries {self.retries:,}\n"
            f"slots holding two contents: {self.stacked}; acknowledged and moved: {self.moved};"
            f" acknowledged and lost: {self.lost}; told two slots for one content:"
            f" {self.told_twice_differently}; not acknowledged within {PATIENCE:.0f} s:"
            f" {self.not_acknowledged}; refusals: {self.refused or 'none'};"
            f" queuelabs check findings: {self.audit_findings}; slots the unique index refused:"
            f" {self.index_refusals}\n"
            f"log lines written by the replicas: {self.log_lines:,}; holding the token:"
            f" {self.secrets_in_logs}"
        )


def run(database_url: str, contents: int, rate: float = 250, limit: float = 1800) -> Tally:
    """The whole run on `database_url` (migrated, empty)."""
    token = f"tok-chaos-{secrets.token_hex(16)}"
    with tempfile.TemporaryDirectory(prefix="queuelabs-chaos-") as scratch:
        env = {"DATABASE_URL": database_url, "AUTH_TOKENS": f"chaos:{token}"}
        replicas = [Replica("allocator", "ALLOCATOR_LISTEN", env, Path(scratch)) for _ in range(3)]
        for replica in replicas:
            replica.start()
        try:
            tally = asyncio.run(_drive(replicas, contents, rate, limit, token))
        finally:
            for replica in replicas:
                replica.stop()
        lines = [line for replica in replicas for line in replica.lines()]
    tally.log_lines = len(lines)
    # Counted from the logs, not the replicas' metrics: a SIGKILL takes a replica's counters with
    # it, while each line was written before the group was placed again.
    tally.index_refusals = sum(1 for line in lines if INDEX_REFUSED in line)
    tally.secrets_in_logs = sum(1 for line in lines if token in line)
    _count(database_url, tally)
    return tally


async def _drive(
    replicas: list[Replica], contents: int, rate: float, limit: float, token: str
) -> Tally:
    tally = Tally(contents=contents)
    channels = [grpc.aio.insecure_channel(r.address) for r in replicas]
    stubs = [AllocatorStub(c) for c in channels]
    metadata = (("authorization", f"Bearer {token}"),)
    profiles = await _set_up(stubs, metadata)
    done = asyncio.Event()

    async def killer() -> None:
        """A kill every KILL_EVERY seconds, counted from when the last replica restarted is
        listening again: on a loaded machine a restart is slow, and killing on the wall clock
        alone would leave every replica down."""
        for victim in itertools.cycle(replicas):
            try:
                await asyncio.wait_for(done.wait(), KILL_EVERY)
                return
            except TimeoutError:
                pass
            victim.kill()
            tally.kills += 1
            victim.start()
            await _until_listening(victim.port, done)

    work = iter(range(contents))
    turn = itertools.count()
    started = time.monotonic()

    async def client() -> None:
        for i in work:
            # Paced, so that the kills land all through the run (a content every 1/rate s).
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            content = pb.Content(
                content_id=str(uuid.uuid4()),
                media_type=pb.MEDIA_TYPE_VIDEO,
                media_url="https://cdn.example.com/clip.mp4",
                title=f"chaos {i}",
            )
            request = pb.AssignNextRequest(
                profile_id=profiles[i % len(profiles)],
                platform=pb.PLATFORM_LINKEDIN,
                content=content,
            )
            give_up = time.monotonic() + PATIENCE
            wait = BACKOFF[0]
            while True:
                try:
                    got = await stubs[next(turn) % len(stubs)].AssignNext(
                        request, timeout=10, metadata=metadata
                    )
                except grpc.aio.AioRpcError as failed:
                    if failed.code() in RETRYABLE and time.monotonic() < give_up:
                        tally.retries += 1
                        await asyncio.sleep(wait * random.uniform(0.5, 1.0))  # with jitter
                        wait = min(wait * 2, BACKOFF[1])
                        continue
                    if failed.code() in RETRYABLE:
                        tally.not_acknowledged += 1
                        break
                    name = failed.code().name
                    tally.refused[name] = tally.refused.get(name, 0) + 1
                    break
                told = (got.scheduled_at.ToDatetime(tzinfo=UTC), got.slot_id)
                earlier = tally.acknowledged.setdefault(content.content_id, told)
                if earlier != told:
                    tally.told_twice_differently += 1
                break

    chaos = asyncio.create_task(killer())
    try:
        await asyncio.wait_for(asyncio.gather(*(client() for _ in range(IN_FLIGHT))), limit)
    finally:
        tally.seconds = time.monotonic() - started
        done.set()
        await chaos
        for channel in channels:
            await channel.close()
    return tally


async def _set_up(stubs: list[AllocatorStub], metadata: tuple[tuple[str, str], ...]) -> list[str]:
    """KEYS profiles with a LinkedIn schedule of 48 slots a day, through whichever replica is up
    (they are all starting)."""
    profiles = [str(uuid.uuid4()) for _ in range(KEYS)]
    slots = [pb.Slot(local_time=f"{h:02d}:{m:02d}") for h in range(24) for m in (0, 30)]
    deadline = time.monotonic() + 60
    for profile_id in profiles:
        for request, call in (
            (
                pb.UpsertProfileRequest(
                    profile_id=profile_id, name="Chaos", upload_post_user="chaos", timezone="UTC"
                ),
                "UpsertProfile",
            ),
            (
                pb.SetScheduleRequest(
                    profile_id=profile_id, platform=pb.PLATFORM_LINKEDIN, slots=slots
                ),
                "SetSchedule",
            ),
        ):
            while True:
                try:
                    await getattr(stubs[0], call)(
                        request, timeout=5, wait_for_ready=True, metadata=metadata
                    )
                    break
                except grpc.aio.AioRpcError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
    return profiles


def _count(database_url: str, tally: Tally) -> None:
    tally.stacked, held = slots_held(database_url, tally.acknowledged)
    tally.lost = sum(1 for c in tally.acknowledged if c not in held)
    tally.moved = sum(1 for c, told in tally.acknowledged.items() if c in held and held[c] != told)
    tally.audit_findings = len(audit(database_url, datetime.now(UTC), timedelta(minutes=10)))


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _until_listening(port: int, done: asyncio.Event) -> None:
    while True:
        if done.is_set() or _listening(port):
            return
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contents", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=250, help="contents started per second")
    parser.add_argument("--limit", type=float, default=1800, help="seconds before giving up")
    args = parser.parse_args()
    with bench_database() as database_url:
        tally = run(database_url, args.contents, args.rate, args.limit)
    print(tally.report())
    sys.exit(0 if tally.holds() else 1)


if __name__ == "__main__":
    main()
