"""Sends the notifications: each a POST of its JSON body to the registered URL, once, in the
background, never retried (as Upload-Post documents none), every attempt recorded. Faults make it
a sender on a bad day: late, repeated, out of order, or lost, drawn from a seed."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=5)  # a receiver slower than this loses the delivery


@dataclass(frozen=True)
class DeliveryFaults:
    """`delay`: each delivery that many seconds late. `repeat`: each sent that many times.
    `reorder`: deliveries held `reorder_seconds` (or until flushed), then the batch sent newest
    first. `drop`: the share never sent, drawn from `seed`."""

    delay: float = 0.0
    repeat: int = 1
    reorder: bool = False
    reorder_seconds: float = 1.0
    drop: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, body: object) -> DeliveryFaults:
        """The `notifications` object of `POST /_sandbox/settings` (a key left out: no such
        fault); ValueError names what is wrong."""
        if not isinstance(body, dict):
            raise ValueError("notifications must be an object")
        unknown = sorted(set(body) - set(asdict(cls())))
        if unknown:
            raise ValueError(f"notifications: unknown {', '.join(unknown)}")
        reorder = body.get("reorder", False)
        if not isinstance(reorder, bool):
            raise ValueError("notifications.reorder must be true or false")
        return cls(
            delay=_number(body, "delay", 0.0, 0, 600),
            repeat=int(_number(body, "repeat", 1, 1, 100, whole=True)),
            reorder=reorder,
            reorder_seconds=_number(body, "reorder_seconds", 1.0, 0.01, 600),
            drop=_number(body, "drop", 0.0, 0, 1),
            seed=int(_number(body, "seed", 0, 0, 2**31, whole=True)),
        )


def _number(
    body: dict[str, Any], name: str, default: float, low: float, high: float, whole: bool = False
) -> float:
    value = body.get(name, default)
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"notifications.{name} must be {kind} from {low} to {high}")
    return float(value)


@dataclass(frozen=True)
class Delivery:
    """One attempt, as `GET /_sandbox/notifications` shows it: `status` 0 when no HTTP answer
    came (connection failed, timed out, or dropped by the fault)."""

    at: float
    event: str
    job_id: str
    profile_username: str
    platform: str
    status: int
    error: str | None


@dataclass(frozen=True)
class _Outgoing:
    url: str
    payload: dict[str, Any]
    repeat: int
    dropped: bool
    delay: float


class Sender:
    """One worker sends the deliveries one after another, in the order they are let go, so what
    a receiver sees (and the record) follows the faults and nothing else."""

    def __init__(self) -> None:
        self.faults = DeliveryFaults()
        self.deliveries: list[Delivery] = []
        self._rng = random.Random(0)
        self._queue: asyncio.Queue[tuple[float, _Outgoing]] = asyncio.Queue()
        self._held: list[_Outgoing] = []
        self._worker: asyncio.Task[None] | None = None
        self._release: asyncio.Task[None] | None = None
        self._stopped = False

    def set_faults(self, faults: DeliveryFaults) -> None:
        """New faults; deliveries held for reordering go now, as they were held."""
        self.flush()
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Lets the delivery go in the background (held first when reordering); never waits."""
        if self._stopped:
            return
        faults = self.faults
        outgoing = _Outgoing(
            url, payload, faults.repeat, self._rng.random() < faults.drop, faults.delay
        )
        if faults.reorder:
            self._held.append(outgoing)
            if self._release is None:
                self._release = asyncio.create_task(self._release_after(faults.reorder_seconds))
        else:
            self._let_go(outgoing)

    def flush(self) -> int:
        """Sends the held batch now, newest first; how many were held."""
        held, self._held = self._held, []
        if self._release is not None and self._release is not asyncio.current_task():
            self._release.cancel()
        self._release = None
        for outgoing in reversed(held):
            self._let_go(outgoing)
        return len(held)

    async def stop(self) -> None:
        """Cancels what is still to send and waits for the worker to end."""
        self._stopped = True
        tasks = [t for t in (self._worker, self._release) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _release_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.flush()

    def _let_go(self, outgoing: _Outgoing) -> None:
        self._queue.put_nowait((time.monotonic() + outgoing.delay, outgoing))
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            while True:
                due, outgoing = await self._queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if outgoing.dropped:
                    self._record(outgoing.payload, 0, "dropped by the sandbox's drop fault")
                    continue
                for _ in range(outgoing.repeat):
                    await self._post(session, outgoing)

    async def _post(self, session: aiohttp.ClientSession, outgoing: _Outgoing) -> None:
        at = time.time()
        try:
            async with session.post(outgoing.url, json=outgoing.payload) as answer:
                await answer.read()
                status, error = answer.status, None if answer.status < 300 else "not accepted"
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as failed:
            # The exception's name only: its text may spell the URL, which may hold a secret.
            status, error = 0, type(failed).__name__
        if error:
            log.warning(
                "sandbox: %s notification not delivered (%s, status %s); not retried",
                outgoing.payload["event"],
                error,
                status,
            )
        self._record(outgoing.payload, status, error, at)

    def _record(
        self, payload: dict[str, Any], status: int, error: str | None, at: float | None = None
    ) -> None:
        self.deliveries.append(
            Delivery(
                time.time() if at is None else at,
                payload["event"],
                payload.get("job_id", ""),
                payload["profile_username"],
                payload["platform"],
                status,
                error,
            )
        )
