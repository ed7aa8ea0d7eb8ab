"""Runs the Allocator as a gRPC server (grpc.aio) with health checking and reflection."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from psycopg_pool import AsyncConnectionPool

from allocator.service import AllocationPolicy, AllocatorService
from allocator.servicer import AllocatorServicer
from allocator.storage import AllocatorStore
from queuelabs.allocator.v1 import allocator_pb2, allocator_pb2_grpc
from queuelabs.clock import Clock, SystemClock
from queuelabs.config import AllocatorSettings
from queuelabs.database import open_pool
from queuelabs.security import add_port, interceptors

log = logging.getLogger(__name__)

SERVICE_NAME = allocator_pb2.DESCRIPTOR.services_by_name["Allocator"].full_name


@dataclass
class RunningAllocator:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    pool: AsyncConnectionPool
    port: int

    async def stop(self, grace: float) -> None:
        """Says NOT_SERVING, lets calls in flight finish within `grace`, then closes the pool."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.pool.close()


async def start_allocator(
    settings: AllocatorSettings, clock: Clock | None = None
) -> RunningAllocator:
    pool = await open_pool(settings.database_url, settings.pool_size, settings.db_timeout)
    try:
        service = AllocatorService(
            AllocatorStore(pool),
            clock or SystemClock(),
            AllocationPolicy(settings.lead_time, settings.horizon, settings.batch_limit),
        )
        server = grpc.aio.server(interceptors=interceptors(settings.security, "allocator"))
        allocator_pb2_grpc.add_AllocatorServicer_to_server(AllocatorServicer(service), server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        port = add_port(server, settings.listen, settings.security)
        if port == 0:
            raise OSError(f"cannot listen on {settings.listen}")
        await server.start()
    except BaseException:
        await pool.close()
        raise
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("allocator listening on %s (port %d)", settings.listen, port)
    return RunningAllocator(server, health_servicer, pool, port)
