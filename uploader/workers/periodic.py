"""Runs one duty again and again until told to stop: every `interval` on the injected clock,
sooner when the duty asks (it returns how long to wait) or when woken. An error is logged and the
duty carries on: one bad turn must not stop a replica's work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from queuelabs.clock import Clock
from queuelabs.errors import Refusal

log = logging.getLogger(__name__)


async def run_periodically(
    name: str,
    turn: Callable[[], Awaitable[timedelta | None]],
    interval: timedelta,
    clock: Clock,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
) -> None:
    """Calls `turn` until `stop` is set; between turns waits what `turn` returned (None: the
    `interval`), never more than `interval`, and less when `wake` is set."""
    wake = wake or asyncio.Event()
    log.debug("%s started", name)
    while not stop.is_set():
        try:
            pause = await turn()
        except Refusal as trouble:  # the database is away: keep trying, calmly
            log.warning("%s: %s", name, trouble)
            pause = None
        except Exception:
            log.exception("%s: unexpected error; carrying on", name)
            pause = None
        wake.clear()
        waiters = [
            asyncio.ensure_future(clock.sleep(min(interval, interval if pause is None else pause))),
            asyncio.ensure_future(wake.wait()),
            asyncio.ensure_future(stop.wait()),
        ]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
