"""What every QueueLabs gRPC server has: auth interceptors, health checking, reflection, TLS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from queuelabs.security import Security, add_port, interceptors


class CannotListen(OSError):
    """The listen address is taken, or not an address of this machine."""


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    service_name: str

    async def mark_serving(self) -> None:
        for name in ("", self.service_name):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        """NOT_SERVING at once; new calls refused; calls in flight get `grace` seconds."""
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
