"""Runs one duty again and again until told to stop: every `interval` on the injected clock,
sooner when the duty asks (it returns how long to wait) or when woken. An error is logged and the
duty carries on: one bad turn must not stop a replica's work. A duty that needs one runner at a
time runs only on the replica that leads it (`Leadership`); the others stand down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from queuelabs.clock import Clock
from queuelabs.errors import Refusal
from uploader.storage import Transaction, UploaderStore

log = logging.getLogger(__name__)

Turn = Callable[[], Awaitable[timedelta | None]]


@dataclass(frozen=True)
class Duty:
    """One of the Uploader's background duties (uploader/workers/duties.py lists them all)."""

    name: str
    turn: Turn  # one pass; may return how long until it wants its next (never past `interval`)
    interval: timedelta
    batch: int | None  # the most rows one of its transactions touches; None: one aggregate read
    wake: asyncio.Event | None = None  # set to start the next turn now
    one_runner: bool = False  # only the replica that leads it runs it (see Leadership)
    stand_down: Callable[[], None] | None = None  # what a replica that does not lead does


async def batch_after_batch(
    store: UploaderStore, batch: int, delete: Callable[[Transaction], Awaitable[tuple[int, ...]]]
) -> int:
    """Runs `delete` (at most `batch` rows of each table it deletes from) a transaction at a
    time, until a batch comes back short in every table; how many rows went. Short
    transactions: a backlog after an outage never holds locks or a snapshot for long."""
    deleted = 0
    while True:
        async with store.transaction() as tx:
            counts = await delete(tx)
        deleted += sum(counts)
        if max(counts) < batch:
            return deleted


# A leader that stops is replaced once its term runs out: this many of the duty's intervals.
TERM_IN_TURNS = 3


class Leadership:
    """Who runs the duties that need one runner at a time: a row per duty in `duty_leaders`,
    held for a term of a few turns and renewed each turn. A row, not an advisory lock: a
    transaction's lock only keeps out turns that overlap in time (replicas a few seconds apart
    would each win), and a session's lock does not survive PgBouncer's transaction pooling."""

    def __init__(self, store: UploaderStore, clock: Clock, worker: str) -> None:
        self._store = store
        self._clock = clock
        self._worker = worker

    async def leads(self, duty: Duty) -> bool:
        """Takes or keeps the lead of `duty` for this replica; whether it has it."""
        now = self._clock.now()
        until = now + TERM_IN_TURNS * duty.interval
        async with self._store.transaction() as tx:
            return await tx.lead_duty(duty.name, self._worker, now, until)

    async def resign(self) -> None:
        """Gives up every duty this replica leads (it stops): another replica takes each at its
        next turn. Should the database be away, the terms run out instead."""
        try:
            async with self._store.transaction() as tx:
                await tx.resign_duties(self._worker)
        except Refusal as trouble:
            log.warning("could not resign the duties of %s: %s", self._worker, trouble)


async def run_periodically(
    duty: Duty, clock: Clock, stop: asyncio.Event, leadership: Leadership | None = None
) -> None:
    """Calls the duty's turn until `stop` is set; between turns waits what the turn returned
    (None: the interval), never more than the interval, and less when woken. A duty for one
    runner takes its turn only while this replica leads it, and stands down otherwise."""
    if duty.one_runner and leadership is None:
        raise ValueError(f"{duty.name} needs one runner at a time: give it a Leadership")
    wake = duty.wake or asyncio.Event()
    log.debug("%s started", duty.name)
    while not stop.is_set():
        try:
            if leadership is not None and duty.one_runner and not await leadership.leads(duty):
                if duty.stand_down is not None:
                    duty.stand_down()
                pause = None
            else:
                pause = await duty.turn()
        except Refusal as trouble:  # the database is away: keep trying, calmly
            log.warning("%s: %s", duty.name, trouble)
            pause = None
        except Exception:
            log.exception("%s: unexpected error; carrying on", duty.name)
            pause = None
        wake.clear()
        interval = duty.interval
        waiters = [
            asyncio.ensure_future(clock.sleep(interval if pause is None else min(interval, pause))),
            asyncio.ensure_future(wake.wait()),
            asyncio.ensure_future(stop.wait()),
        ]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
