"""Runs one duty again and again until told to stop: every `interval` on the injected clock,
sooner when the duty asks (it returns how long to wait) or when woken. An error is logged and the
duty carries on: one bad turn must not stop a replica's work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from queuelabs.clock import Clock
from queuelabs.errors import Refusal

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


async def run_periodically(duty: Duty, clock: Clock, stop: asyncio.Event) -> None:
    """Calls the duty's turn until `stop` is set; between turns waits what the turn returned
    (None: the interval), never more than the interval, and less when woken."""
    wake = duty.wake or asyncio.Event()
    log.debug("%s started", duty.name)
    while not stop.is_set():
        try:
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
