"""What the Refusals interceptor answers when a servicer raises: a Refusal's own status and
details, and anything unexpected INTERNAL (logged with its traceback, its text kept from the
caller), for unary calls and server streams alike."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from queuelabs.errors import InvalidArgument, Refusals

SERVICE = "queuelabs.test.v1.Probe"


def _raise(trouble: Exception) -> Any:
    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise trouble

    async def stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        yield b"first"
        raise trouble

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
        },
    )


async def _call(channel: grpc.aio.Channel, method: str) -> None:
    if method == "Unary":
        await channel.unary_unary(f"/{SERVICE}/Unary")(b"")
        return
    async for _ in channel.unary_stream(f"/{SERVICE}/Stream")(b""):
        pass


async def _answer(trouble: Exception, method: str) -> grpc.aio.AioRpcError:
    server = grpc.aio.server(interceptors=[Refusals()])
    server.add_generic_rpc_handlers((_raise(trouble),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                await _call(channel, method)
            return ended.value
    finally:
        await server.stop(0)


@pytest.mark.parametrize("method", ["Unary", "Stream"])
async def test_a_refusal_ends_the_call_with_its_status_and_message(method):
    ended = await _answer(InvalidArgument("profile_id", "is not a UUID"), method)
    assert ended.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ended.details() == "profile_id: is not a UUID"


@pytest.mark.parametrize("method", ["Unary", "Stream"])
async def test_anything_unexpected_is_internal_logged_and_not_told(method, caplog):
    with caplog.at_level(logging.ERROR, logger="queuelabs.errors"):
        ended = await _answer(RuntimeError("secret-detail-7f3a"), method)
    assert ended.code() == grpc.StatusCode.INTERNAL
    assert ended.details() == "internal error; see the server log"
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.getMessage() == f"{method} failed"
    assert logged.exc_info is not None
    assert "secret-detail-7f3a" in str(logged.exc_info[1])
