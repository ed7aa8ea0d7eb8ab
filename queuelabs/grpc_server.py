"""What every QueueLabs gRPC server has: auth interceptors, health checking, reflection, TLS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from queuelabs.database import DatabaseProbe
from queuelabs.security import Security, add_port, interceptors

log = logging.getLogger(__name__)

# How often health asks whether PostgreSQL answers (and how long it waits for the answer).
HEALTH_PROBE_SECONDS = 2.0


class CannotListen(OSError):
    """The listen address is taken, or not an address of this machine."""


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    service_name: str

    _watching: asyncio.Task[None] | None = field(default=None, repr=False)

    async def mark_serving(self, database_url: str) -> None:
        """SERVING, and from now on NOT_SERVING whenever PostgreSQL does not answer (every call
        would fail UNAVAILABLE then), SERVING again when it does."""
        await self._say(health_pb2.HealthCheckResponse.SERVING)
        probe = DatabaseProbe(database_url, HEALTH_PROBE_SECONDS)
        self._watching = asyncio.create_task(self._watch(probe))

    async def _say(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        for name in ("", self.service_name):
            await self.health.set(name, status)

    async def _watch(self, probe: DatabaseProbe) -> None:
        serving = True
        try:
            while True:
                await asyncio.sleep(HEALTH_PROBE_SECONDS)
                answers = await probe.answers()
                if answers == serving:
                    continue
                serving = answers
                if serving:
                    log.warning("PostgreSQL answers again: health says SERVING")
                    await self._say(health_pb2.HealthCheckResponse.SERVING)
                else:
                    log.warning("PostgreSQL does not answer: health says NOT_SERVING")
                    await self._say(health_pb2.HealthCheckResponse.NOT_SERVING)
        finally:
            await probe.close()

    async def stop(self, grace: float) -> None:
        """NOT_SERVING at once; new calls refused; calls in flight get `grace` seconds."""
        if self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_grpc_server(
    service_name: str,
    register: Callable[[grpc.aio.Server], None],
    listen: str,
    security: Security,
) -> GrpcServer:
    """Starts a server with `register`'s servicer; health says NOT_SERVING until mark_serving."""
    server = grpc.aio.server(interceptors=interceptors(security, service_name))
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [service_name, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    try:
        port = add_port(server, listen, security)
    except RuntimeError as failed:  # grpc's way of saying the address is taken or invalid
        raise CannotListen(f"cannot listen on {listen} ({failed})") from None
    await server.start()
    return GrpcServer(server, health_servicer, port, service_name)
