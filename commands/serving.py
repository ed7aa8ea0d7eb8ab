"""Running a part until it is told to stop: SIGTERM or SIGINT (Ctrl-C), then a graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol

from queuelabs.metrics import serve_metrics

log = logging.getLogger("queuelabs")


class Stoppable(Protocol):
    async def stop(self, grace: float) -> None: ...


async def serve_until_signalled(
    start: Callable[[], Awaitable[Stoppable]], grace: float, metrics_listen: str | None
) -> int:
    """Runs a service until SIGTERM or SIGINT, then stops it gracefully; exit code 0.

    The service starts first (its settings, database and listen address checked), then its
    metrics, so a problem with either is named for what it is."""
    running = await start()
    try:
        serve_metrics(metrics_listen)
    except OSError as failed:
        await running.stop(0)
        raise OSError(f"METRICS_LISTEN {metrics_listen}: {failed.strerror or failed}") from None
    await until_signalled()
    log.info("stopping: no new calls or claims; work in flight gets up to %.0f s", grace)
    await running.stop(grace)
    return 0


async def until_signalled() -> None:
    """Waits for SIGTERM or SIGINT (Ctrl-C). Later ones, while the caller stops what it runs,
    are noted and ignored: a terminal's Ctrl-C reaches `uv run` and the process alike, and uv
    passes its own on, so one Ctrl-C is often two signals here."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _already_stopping)


def _already_stopping() -> None:
    log.info("already stopping")
