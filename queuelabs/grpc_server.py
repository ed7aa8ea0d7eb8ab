"""What every QueueLabs gRPC server has: auth interceptors, health checking, reflection, TLS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from queuelabs.access import AccessLog
from queuelabs.database import DatabaseProbe
from queuelabs.errors import Refusals
from queuelabs.security import Security, add_port, interceptors, note_reason
from queuelabs.status import rich_status

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
    *,
    setting: str = "the listen address",
) -> GrpcServer:
    """Starts a server with `register`'s servicer; health says NOT_SERVING until mark_serving.
    `setting` names where `listen` came from, for the message when it cannot be had.

    SO_REUSEPORT is off (gRPC turns it on by default on Linux): with it a second server on a
    taken port starts, says it listens, and shares the first one's calls at random."""
    server = grpc.aio.server(
        # Outermost first: the access line sees every call (those auth refuses too); refusals
        # become statuses next to the servicer.
        interceptors=[
            AccessLog(),
            *interceptors(security, service_name),
            Undecodable(),
            Refusals(),
        ],
        options=[("grpc.so_reuseport", 0)],
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [service_name, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    try:
        port = add_port(server, listen, security)
    except RuntimeError as failed:  # grpc's way of saying the address is taken or invalid
        raise CannotListen(
            f"{setting} {listen}: cannot listen there (the address is taken, or is not one of"
            f" this machine's): {failed}"
        ) from None
    await server.start()
    return GrpcServer(server, health_servicer, port, service_name)


class Undecodable(grpc.aio.ServerInterceptor):
    """A request whose bytes are not a message of its type gets INVALID_ARGUMENT (gRPC's own
    answer would be UNKNOWN, naming a Python exception)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler
        decode, behaviour = handler.request_deserializer, handler.unary_unary

        def leniently(raw: bytes) -> Any:
            try:
                return decode(raw)
            except DecodeError:
                return _NotAMessage()

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _NotAMessage):
                code = grpc.StatusCode.INVALID_ARGUMENT
                message = (
                    f"the request is not a valid message for {details.method} (its wire format"
                    " is corrupt)"
                )
                note_reason("UNDECODABLE_REQUEST")
                await context.abort(
                    code, message, rich_status(code, message, "UNDECODABLE_REQUEST")
                )
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=leniently,
            response_serializer=handler.response_serializer,
        )


class _NotAMessage:
    """What an undecodable request becomes, for `guarded` to refuse."""
