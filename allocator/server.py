"""Runs the Allocator as a gRPC server (grpc.aio) with health checking and reflection."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from allocator.service import AllocationPolicy, AllocatorService
from allocator.servicer import AllocatorServicer
from allocator.settings import AllocatorSettings
from allocator.storage import AllocatorStore
from queuelabs import metrics
from queuelabs.allocator.v1 import allocator_pb2, allocator_pb2_grpc
from queuelabs.clock import Clock, SystemClock
from queuelabs.database import open_pool
from queuelabs.grpc_server import GrpcServer, start_grpc_server

log = logging.getLogger(__name__)

SERVICE_NAME = allocator_pb2.DESCRIPTOR.services_by_name["Allocator"].full_name


@dataclass
class RunningAllocator:
    grpc: GrpcServer
    pool: AsyncConnectionPool

    @property
    def port(self) -> int:
        return self.grpc.port

    async def stop(self, grace: float) -> None:
        """Says NOT_SERVING, lets calls in flight finish within `grace`, then closes the pool."""
        await self.grpc.stop(grace)
        await self.pool.close()


async def start_allocator(
    settings: AllocatorSettings, clock: Clock | None = None
) -> RunningAllocator:
    pool = await open_pool(settings.database_url, settings.pool_size, settings.db_timeout)
    metrics.watch_pool("allocator", pool)
    try:
        service = AllocatorService(
            AllocatorStore(pool),
            clock or SystemClock(),
            AllocationPolicy(
                lead_time=settings.lead_time,
                horizon=settings.horizon,
                batch_limit=settings.batch_limit,
                group_limit=settings.group_limit,
                groups_in_flight=settings.groups_in_flight,
                daily_caps=settings.daily_caps,
            ),
        )
        server = await start_grpc_server(
            SERVICE_NAME,
            lambda s: allocator_pb2_grpc.add_AllocatorServicer_to_server(
                AllocatorServicer(service), s
            ),
            settings.listen,
            settings.security,
            setting="ALLOCATOR_LISTEN",
        )
    except BaseException:
        await pool.close()
        raise
    await server.mark_serving(settings.database_url)
    log.info("allocator listening on %s (port %d)", settings.listen, server.port)
    return RunningAllocator(server, pool)
