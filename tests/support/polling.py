"""Waiting in tests for something real processes do on their own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], bool], seconds: float = 60) -> None:
    """Waits until `condition` holds; the bound is for a hang, not a measure of speed."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)  # real: what is awaited happens in another process


async def until_found(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    """`until` for a condition that must be asked for (a query, an RPC)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)  # real: what is awaited happens in other tasks and sockets
