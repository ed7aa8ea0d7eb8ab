"""A burst of MoveContent calls aimed at one slot instant, fired with AssignNext bursts on the
same key, from several OS processes at once over many connections (like tests/support/burst.py,
whose barrier and process plumbing it shares; each process here gets its own contents to move).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier

import grpc

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from tests.support.burst import _run, own_connections
from tests.support.calls import stamp, video


@dataclass(frozen=True)
class Answer:
    rpc: str  # "MoveContent" or "AssignNext"
    content_id: str
    scheduled_at: datetime | None  # None when refused
    code: str  # "OK" or the status code's name
    details: str


def fire_moves(
    addresses: list[str],
    connections: int,
    profile_id: str,
    target: datetime,
    moves: Sequence[Sequence[str]],
    assigns_per_process: int,
) -> list[Answer]:
    """Process i moves the contents moves[i] to `target` and asks for `assigns_per_process`
    AssignNext with not_before = `target`, all at once once every process is connected."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(moves) + 1)
    results: multiprocessing.Queue[list[Answer] | BaseException] = context.Queue()
    children = [
        context.Process(
            target=_run,
            args=(
                move_worker,
                (
                    addresses,
                    connections,
                    profile_id,
                    target,
                    list(mine),
                    assigns_per_process,
                    barrier,
                ),
                results,
            ),
        )
        for mine in moves
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=60)
        answers: list[Answer] = []
        for _ in children:
            got = results.get(timeout=120)
            if isinstance(got, BaseException):
                raise got
            answers += got
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    return answers


def move_worker(*args: object) -> list[Answer]:
    return asyncio.run(_moves(*args))  # type: ignore[arg-type]


async def _moves(
    addresses: list[str],
    connections: int,
    profile_id: str,
    target: datetime,
    mine: list[str],
    assigns: int,
    barrier: Barrier,
) -> list[Answer]:
    channels = own_connections(addresses, connections)
    try:
        await asyncio.gather(*(c.channel_ready() for c in channels))
        stubs = [AllocatorStub(c) for c in channels]
        await asyncio.to_thread(barrier.wait, 60)

        async def answer(rpc: str, content_id: str, call: object) -> Answer:
            try:
                got = await call  # type: ignore[misc]
                return Answer(rpc, content_id, got.scheduled_at.ToDatetime(tzinfo=UTC), "OK", "")
            except grpc.aio.AioRpcError as refused:
                return Answer(rpc, content_id, None, refused.code().name, refused.details() or "")

        calls = []
        for i, content_id in enumerate(mine):
            request = pb.MoveContentRequest(
                content_id=content_id, scheduled_at=stamp(target), reason="race"
            )
            calls.append(
                answer(
                    "MoveContent",
                    content_id,
                    stubs[i % connections].MoveContent(request, timeout=60),
                )
            )
        for i in range(assigns):
            content = video()
            asked = pb.AssignNextRequest(
                profile_id=profile_id,
                platform=pb.PLATFORM_TIKTOK,
                content=content,
                not_before=stamp(target),
            )
            stub = stubs[(i + len(mine)) % connections]
            calls.append(
                answer("AssignNext", content.content_id, stub.AssignNext(asked, timeout=60))
            )
        # Interleave the two kinds so neither goes out first as a block.
        moves_first, assigns_after = calls[: len(mine)], calls[len(mine) :]
        mixed = [c for pair in zip(moves_first, assigns_after, strict=False) for c in pair]
        mixed += moves_first[len(assigns_after) :] + assigns_after[len(moves_first) :]
        return list(await asyncio.gather(*mixed))
    finally:
        await asyncio.gather(*(c.close() for c in channels))
