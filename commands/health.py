"""`queuelabs health`: asks a service's gRPC health check whether it serves, for container
health checks and scripts. Exit 0 when SERVING; 1, with what it got, otherwise.

The address: `--address`, else 127.0.0.1 on the port of ALLOCATOR_LISTEN or UPLOADER_LISTEN,
whichever is set (a container runs one service). TLS as the services are set (TLS_CERT_FILE,
TLS_CA_FILE); health needs no token.
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from queuelabs.env import ConfigError, Env
from queuelabs.security import client_channel


def health_address(env: Env, given: str | None) -> str:
    if given:
        return Env({"--address": given}).listen("--address", given)
    set_ = [name for name in ("ALLOCATOR_LISTEN", "UPLOADER_LISTEN") if env.text(name)]
    if len(set_) != 1:
        raise ConfigError(
            "--address: not given, and the service is not known from ALLOCATOR_LISTEN or "
            "UPLOADER_LISTEN (set exactly one, or pass --address HOST:PORT)"
        )
    port = env.listen(set_[0], "").rpartition(":")[2]
    return f"127.0.0.1:{port}"


async def probe(address: str, env: Env, seconds: float) -> str:
    """The serving status's name (SERVING, NOT_SERVING, ...), or the gRPC code's if the call
    failed."""
    async with client_channel(address, env.security()) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=seconds
            )
        except grpc.aio.AioRpcError as failed:
            return failed.code().name
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def run_health(env: Env, address: str | None, seconds: float) -> int:
    where = health_address(env, address)
    status = asyncio.run(probe(where, env, seconds))
    if status == "SERVING":
        print(f"{where}: SERVING")
        return 0
    print(f"{where}: {status}")
    return 1
