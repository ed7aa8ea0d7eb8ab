"""Runs the Uploader: the gRPC server (health, reflection) and its background duties (the one
list in uploader/workers/duties.py), in one process."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from queuelabs import metrics
from queuelabs.clock import Clock, SystemClock
from queuelabs.database import open_pool
from queuelabs.grpc_server import GrpcServer, start_grpc_server
from queuelabs.uploader.v1 import uploader_pb2, uploader_pb2_grpc
from uploader.allocator_client import AllocatorGateway
from uploader.budget import RequestBudget
from uploader.listening import Listening
from uploader.notices.receiver import RunningReceiver, start_receiver
from uploader.publisher import Publisher
from uploader.service import UploaderService
from uploader.servicer import UploaderServicer
from uploader.settings import UploaderSettings
from uploader.storage import UploaderStore
from uploader.upload_post import UploadPostClient
from uploader.watch import EventWatch, LogTail
from uploader.webhooks.service import WebhookService
from uploader.workers.claimer import Claimer
from uploader.workers.duties import uploader_duties
from uploader.workers.periodic import Leadership, run_periodically

log = logging.getLogger(__name__)

SERVICE_NAME = uploader_pb2.DESCRIPTOR.services_by_name["Uploader"].full_name


@dataclass
class RunningUploader:
    grpc: GrpcServer
    pool: AsyncConnectionPool
    claimer: Claimer
    workers: list[asyncio.Task[None]]
    stop_workers: asyncio.Event
    client: UploadPostClient
    allocator: AllocatorGateway
    worker: str
    leadership: Leadership
    notices: RunningReceiver | None = None  # hears Upload-Post's webhooks, when set to

    @property
    def port(self) -> int:
        return self.grpc.port

    async def stop(self, grace: float) -> None:
        """NOT_SERVING; no new claims; publishes in flight get `grace` seconds; then closes."""
        await self.grpc.health.enter_graceful_shutdown()
        if self.notices is not None:
            await self.notices.stop()
        self.stop_workers.set()
        await asyncio.gather(*self.workers)
        await self.leadership.resign()
        await asyncio.gather(self.claimer.drain(grace), self.grpc.stop(grace))
        await self.client.close()
        await self.allocator.close()
        await self.pool.close()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def start_uploader(settings: UploaderSettings, clock: Clock | None = None) -> RunningUploader:
    clock = clock or SystemClock()
    worker = worker_name()
    pool = await open_pool(settings.database_url, settings.pool_size, settings.db_timeout)
    metrics.watch_pool("uploader", pool)
    client = UploadPostClient(
        settings.upload_post_base_url, settings.upload_post_api_key, clock=clock
    )
    allocator = AllocatorGateway(settings.allocator_addr, settings.security)
    store = UploaderStore(pool)
    budget = RequestBudget(store, settings.limits, clock, worker)
    # Hearing Upload-Post's webhooks itself, a replica expects them from its start (see
    # decisions.poll_backoff); any replica knows them in use once one was kept lately.
    listening = Listening(
        store, clock, clock.now() if settings.notices.listen is not None else None
    )
    publisher = Publisher(
        store,
        client,
        allocator,
        budget,
        settings.policies,
        clock,
        worker,
        settings.max_lateness,
        listening,
    )
    claimer = Claimer(
        store,
        publisher,
        budget,
        clock,
        worker,
        max_in_flight=settings.max_in_flight,
        lease=settings.lease,
        max_lateness=settings.max_lateness,
        listening=listening,
    )
    service = UploaderService(
        store, allocator, clock, settings.daily_caps, settings.limits, wake_claimer=claimer.wake
    )
    tail = LogTail(store, clock)  # wakes this replica's WatchEvents streams
    notices: RunningReceiver | None = None
    try:
        notices = await start_receiver(settings.notices, store, clock, claimer.wake)
        server = await start_grpc_server(
            SERVICE_NAME,
            lambda s: uploader_pb2_grpc.add_UploaderServicer_to_server(
                UploaderServicer(
                    service,
                    events=EventWatch(store, tail),
                    webhooks=WebhookService(store, clock, settings.webhooks.allow_private),
                ),
                s,
            ),
            settings.listen,
            settings.security,
            setting="UPLOADER_LISTEN",
        )
    except BaseException:
        if notices is not None:
            await notices.stop()
        await client.close()
        await allocator.close()
        await pool.close()
        raise
    stop = asyncio.Event()
    leadership = Leadership(store, clock, worker)
    workers = [
        asyncio.create_task(run_periodically(duty, clock, stop, leadership))
        for duty in uploader_duties(store, clock, claimer, settings)
    ]
    # Not a duty: it stops with them, and then ends every stream (UNAVAILABLE, resume there).
    workers.append(asyncio.create_task(tail.run(stop)))
    await server.mark_serving(settings.database_url)
    log.info(
        "uploader %s listening on %s (port %d), publishing to %s",
        worker,
        settings.listen,
        server.port,
        settings.upload_post_base_url,
    )
    return RunningUploader(
        server, pool, claimer, workers, stop, client, allocator, worker, leadership, notices
    )
