"""Bearer tokens, TLS and mTLS on the servers, and on the Uploader's client to the Allocator."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from allocator.server import RunningAllocator, start_allocator
from allocator.settings import AllocatorSettings
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.env import ConfigError, Env
from queuelabs.security import BearerAuth, Security
from queuelabs.status import error_info
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.certs import Pki, make_pki
from tests.support.processes import ServiceProcess, service_process
from uploader.allocator_client import AllocatorGateway
from uploader.errors import AllocatorRefused, ContentNotFound

TOKENS = {"sagalabs": "tok-sagalabs-9f2c", "uploader": "tok-uploader-41aa"}


@pytest.fixture
def pki(tmp_path) -> Pki:
    return make_pki(tmp_path)


async def serve(database_url: str, security: Security) -> RunningAllocator:
    settings = AllocatorSettings(database_url, listen="127.0.0.1:0", pool_size=2)
    return await start_allocator(replace(settings, security=security))


@pytest.fixture
async def guarded(database_url) -> AsyncIterator[str]:
    running = await serve(database_url, Security(tokens=TOKENS))
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        await running.stop(grace=1)


def get_schedule() -> pb.GetScheduleRequest:
    return pb.GetScheduleRequest(profile_id=str(uuid.uuid4()), platform=pb.PLATFORM_TIKTOK)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "tok-sagalabs-9f2c", "Basic tok-sagalabs-9f2c", "Bearer "],
)
async def test_a_call_without_a_known_bearer_token_is_unauthenticated(guarded, authorization):
    metadata = (("authorization", authorization),) if authorization is not None else None
    async with grpc.aio.insecure_channel(guarded) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await AllocatorStub(channel).GetSchedule(get_schedule(), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_known_token_gets_through_and_only_the_callers_name_is_logged(guarded, caplog):
    caplog.set_level(logging.DEBUG)
    async with grpc.aio.insecure_channel(guarded) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as answered:
            await AllocatorStub(channel).GetSchedule(
                get_schedule(), metadata=(("authorization", "Bearer tok-sagalabs-9f2c"),)
            )
    assert answered.value.code() == grpc.StatusCode.NOT_FOUND  # past the door, to the service
    [access] = [r for r in caplog.records if r.getMessage().startswith("GetSchedule NOT_FOUND")]
    assert access.caller == "sagalabs"
    assert all(token not in caplog.text for token in TOKENS.values())


async def test_health_and_reflection_stay_open(guarded):
    async with grpc.aio.insecure_channel(guarded) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_tokens_are_matched_by_name_without_shortcuts():
    auth = BearerAuth(TOKENS)
    assert auth.identify("Bearer tok-uploader-41aa") == "uploader"
    assert auth.identify("bearer tok-sagalabs-9f2c") == "sagalabs"
    assert auth.identify("Bearer tok-uploader-41a") is None
    assert auth.identify("") is None


async def test_tls_serves_only_clients_that_trust_it(database_url, pki):
    running = await serve(
        database_url, Security(cert_file=pki.server_cert, key_file=pki.server_key)
    )
    address = f"127.0.0.1:{running.port}"
    try:
        trusting = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
        async with grpc.aio.secure_channel(address, trusting) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as answered:
                await AllocatorStub(channel).GetSchedule(get_schedule())
            assert answered.value.code() == grpc.StatusCode.NOT_FOUND
        async with grpc.aio.insecure_channel(address) as plain:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await AllocatorStub(plain).GetSchedule(get_schedule(), timeout=3)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await running.stop(grace=1)


async def test_mtls_and_tokens_together_admit_the_uploaders_own_client(database_url, pki):
    server_side = Security(
        tokens=TOKENS, cert_file=pki.server_cert, key_file=pki.server_key, client_ca_file=pki.ca
    )
    running = await serve(database_url, server_side)
    address = f"127.0.0.1:{running.port}"
    try:
        uploader_side = Security(
            cert_file=pki.client_cert,
            key_file=pki.client_key,
            ca_file=pki.ca,
            client_token=TOKENS["uploader"],
        )
        gateway = AllocatorGateway(address, uploader_side, timeout=5)
        with pytest.raises(ContentNotFound):  # the call got through TLS and the token check
            await gateway.release(uuid.uuid4(), "test")
        await gateway.close()

        without_certificate = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
        async with grpc.aio.secure_channel(address, without_certificate) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await AllocatorStub(channel).GetSchedule(
                    get_schedule(),
                    timeout=3,
                    metadata=(("authorization", "Bearer tok-uploader-41aa"),),
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        # A missing or wrong token is not "unavailable": asking again will not help, so the
        # content fails for a person to see instead of being retried every 30 s forever.
        for token in (None, "tok-not-known"):
            wrong = AllocatorGateway(address, replace(uploader_side, client_token=token), timeout=5)
            with pytest.raises(AllocatorRefused, match="Reschedule: UNAUTHENTICATED") as refused:
                await wrong.reschedule(uuid.uuid4(), "test")
            assert "tok-" not in str(refused.value)
            await wrong.close()
    finally:
        await running.stop(grace=1)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUTH_TOKENS": "sagalabs"}, "AUTH_TOKENS: entry 1 is not name:token"),
        ({"AUTH_TOKENS": "a:x,a:y"}, "AUTH_TOKENS: the name 'a' appears twice"),
        ({"TLS_CERT_FILE": "/nonexistent.pem"}, "TLS_CERT_FILE"),
        ({"TLS_CLIENT_CA_FILE": __file__}, "TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE"),
    ],
)
def test_bad_security_settings_are_refused_naming_the_variable(env, named):
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        Env(env).security()


def test_the_uploader_calls_the_allocator_with_its_own_token():
    security = Env({"AUTH_TOKENS": "sagalabs:tok-a-12,uploader:tok-b-77"}).security()
    assert security.client_token == "tok-b-77"
    assert "tok-" not in repr(security)


ALLOCATOR_TOKENS = {"sagalabs": "tok-sagalabs-77d1", "uploader": "tok-uploader-to-alloc-5be0"}
UPLOADER_TOKENS = {"ops": "tok-ops-c3a9"}


@pytest.fixture(scope="module")
def both_guarded(databases) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Both services as processes, each with its own tokens; the Uploader calls the Allocator
    with the token the Allocator knows it by."""
    database_url = databases.url(databases.create_from_template())
    with (
        service_process(
            "allocator",
            "ALLOCATOR_LISTEN",
            DATABASE_URL=database_url,
            LOG_LEVEL="DEBUG",
            AUTH_TOKENS=",".join(f"{n}:{t}" for n, t in ALLOCATOR_TOKENS.items()),
        ) as allocator,
        service_process(
            "uploader",
            "UPLOADER_LISTEN",
            DATABASE_URL=database_url,
            LOG_LEVEL="DEBUG",
            ALLOCATOR_ADDR=allocator.address,
            ALLOCATOR_TOKEN=ALLOCATOR_TOKENS["uploader"],
            AUTH_TOKENS=",".join(f"{n}:{t}" for n, t in UPLOADER_TOKENS.items()),
            UPLOAD_POST_BASE_URL="http://127.0.0.1:9/api",  # nothing is published here
            UPLOAD_POST_API_KEY="key-never-logged-e41f",
        ) as uploader,
    ):
        yield allocator, uploader


EVERY_RPC = [
    ("allocator", method.name, method.input_type._concrete_class)  # type: ignore[attr-defined]
    for method in pb.DESCRIPTOR.services_by_name["Allocator"].methods
] + [
    ("uploader", method.name, method.input_type._concrete_class)  # type: ignore[attr-defined]
    for method in upb.DESCRIPTOR.services_by_name["Uploader"].methods
]
STREAMING = {
    method.name
    for service in (
        pb.DESCRIPTOR.services_by_name["Allocator"],
        upb.DESCRIPTOR.services_by_name["Uploader"],
    )
    for method in service.methods
    if method.server_streaming
}


@pytest.mark.parametrize(("service", "method", "request_class"), EVERY_RPC)
def test_every_rpc_of_both_services_refuses_a_missing_wrong_or_other_services_token(
    both_guarded, service, method, request_class
):
    allocator, uploader = both_guarded
    address, full_name, own, others = (
        (allocator.address, "queuelabs.allocator.v1.Allocator", ALLOCATOR_TOKENS, UPLOADER_TOKENS)
        if service == "allocator"
        else (uploader.address, "queuelabs.uploader.v1.Uploader", UPLOADER_TOKENS, ALLOCATOR_TOKENS)
    )
    refused_with = [None, "Bearer wrong", *(f"Bearer {t}" for t in others.values())]
    streaming = method in STREAMING
    with grpc.insecure_channel(address) as channel:
        call = (channel.unary_stream if streaming else channel.unary_unary)(
            f"/{full_name}/{method}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=lambda raw: raw,
        )
        for authorization in refused_with:
            metadata = (("authorization", authorization),) if authorization else None
            with pytest.raises(grpc.RpcError) as refused:
                _first_answer(call(request_class(), metadata=metadata, timeout=10), streaming)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, authorization
            info = error_info(refused.value)
            assert info is not None
            assert (info.reason, info.domain) == ("UNAUTHENTICATED", "queuelabs")
        token = next(iter(own.values()))
        # An empty request with the service's own token: past the door, answered by the service.
        assert _code(call, request_class(), token, streaming) != grpc.StatusCode.UNAUTHENTICATED
    for running in (allocator, uploader):
        text = running.log.read_text(errors="replace")
        for secret in (*ALLOCATOR_TOKENS.values(), *UPLOADER_TOKENS.values(), "key-never-logged"):
            assert secret not in text, (running.address, secret)


def _first_answer(answer: Any, streaming: bool) -> Any:
    """A unary call's answer, or a stream's first message: a refused stream raises at once."""
    return next(answer) if streaming else answer


def _code(call: Any, request: Any, token: str, streaming: bool) -> grpc.StatusCode:
    """How the service answers `request` with `token`; a stream (which goes on for as long as
    its caller listens) is left once its headers come, sent before any event."""
    metadata = (("authorization", f"Bearer {token}"),)
    try:
        if not streaming:
            call(request, metadata=metadata, timeout=10)
            return grpc.StatusCode.OK
        stream = call(request, metadata=metadata, timeout=10)
        try:
            stream.initial_metadata()
            if stream.done():
                next(stream)  # it ended at once after all: raises why
        finally:
            stream.cancel()
    except grpc.RpcError as answered:
        return answered.code()
    return grpc.StatusCode.OK
