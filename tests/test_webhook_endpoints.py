"""The webhook RPCs on a real Uploader server over gRPC: an endpoint is created with its secret
(shown then and on rotation only), listed without it, rotated, deleted; a URL that is not
http(s), or points at a private address, is refused with INVALID_ARGUMENT naming `url` unless
WEBHOOKS_ALLOW_PRIVATE is set; and every attempt of a delivery is there for an operator. No
secret is ever logged."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import BadRequest

from commands.dev import DevPorts, uploader_env
from queuelabs.env import ConfigError, Env
from queuelabs.status import details_of, error_info
from queuelabs.uploader.v1 import uploader_pb2 as upb
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub
from tests.support.polling import until
from tests.support.receiver import Reply, receiving
from tests.support.webhooks import tell
from tests.test_readme import ROOT, grpcurl_dir
from uploader.server import start_uploader
from uploader.settings import UploaderSettings, WebhookSettings


@asynccontextmanager
async def uploader(
    database_url: str, allow_private: bool
) -> AsyncIterator[tuple[UploaderStub, int]]:
    """An Uploader server of its own (its Allocator and Upload-Post are never called here)."""
    settings = UploaderSettings(
        database_url=database_url,
        allocator_addr="127.0.0.1:1",
        upload_post_api_key="unused",
        upload_post_base_url="http://127.0.0.1:1/api",
        listen="127.0.0.1:0",
        pool_size=4,
        idle=timedelta(seconds=0.05),
        webhooks=WebhookSettings(
            allow_private=allow_private,
            timeout=2,
            lease=timedelta(seconds=5),
            retry_scale=0.01,  # a retry 50 ms on, not 5 s
        ),
    )
    running = await start_uploader(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield UploaderStub(channel), running.port
    finally:
        await running.stop(grace=1)


@pytest.fixture
async def stub(database_url) -> AsyncIterator[UploaderStub]:
    async with uploader(database_url, allow_private=True) as (opened, _):
        yield opened


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def bad_fields(error: grpc.aio.AioRpcError) -> list[str]:
    [bad] = [d for d in details_of(error) if isinstance(d, BadRequest)]
    return [v.field for v in bad.field_violations]


async def test_an_endpoint_is_created_with_its_secret_and_listed_without_it(stub, caplog):
    caplog.set_level(logging.DEBUG)
    profile = str(uuid.uuid4())
    created = await stub.CreateWebhookEndpoint(
        upb.CreateWebhookEndpointRequest(
            url="http://127.0.0.1:9/in",
            types=["upload.published", "upload.failed"],
            profile_ids=[profile],
            description="partner",
        )
    )
    assert created.secret.startswith("whsec_")
    assert created.endpoint.endpoint_id == created.endpoint_id
    assert list(created.endpoint.types) == ["upload.failed", "upload.published"]
    assert list(created.endpoint.profile_ids) == [profile]
    assert not created.endpoint.disabled
    listed = await stub.ListWebhookEndpoints(upb.ListWebhookEndpointsRequest())
    assert [e.endpoint_id for e in listed.endpoints] == [created.endpoint_id]
    assert listed.endpoints[0] == created.endpoint
    assert created.secret.encode() not in listed.SerializeToString()
    assert created.secret not in caplog.text


async def test_endpoints_are_listed_a_page_at_a_time(stub):
    ids = []
    for n in range(3):
        request = upb.CreateWebhookEndpointRequest(url=f"https://127.0.0.1/{n}")
        ids.append((await stub.CreateWebhookEndpoint(request)).endpoint_id)
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListWebhookEndpoints(
            upb.ListWebhookEndpointsRequest(page_size=2, page_token=token)
        )
        seen += [e.endpoint_id for e in page.endpoints]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "https://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
    ],
)
async def test_a_private_url_is_refused_naming_url_unless_allowed(database_url, url):
    async with uploader(database_url, allow_private=False) as (strict, _):
        error = await refused(
            strict.CreateWebhookEndpoint(upb.CreateWebhookEndpointRequest(url=url))
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(error) == ["url"]
        assert "WEBHOOKS_ALLOW_PRIVATE=true" in (error.details() or "")
        listed = await strict.ListWebhookEndpoints(upb.ListWebhookEndpointsRequest())
        assert list(listed.endpoints) == []  # nothing changed


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (upb.CreateWebhookEndpointRequest(url="ftp://example.com/x"), "url"),
        (upb.CreateWebhookEndpointRequest(url=""), "url"),
        (upb.CreateWebhookEndpointRequest(url="https://x.example", types=["nope"]), "types[0]"),
        (
            upb.CreateWebhookEndpointRequest(url="https://x.example", profile_ids=["1"]),
            "profile_ids[0]",
        ),
    ],
)
async def test_bad_fields_are_refused_naming_them(stub, request_, field):
    error = await refused(stub.CreateWebhookEndpoint(request_))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == [field]


async def test_rotation_gives_a_new_secret_and_says_until_when_the_old_one_signs(stub, caplog):
    caplog.set_level(logging.DEBUG)
    created = await stub.CreateWebhookEndpoint(
        upb.CreateWebhookEndpointRequest(url="http://127.0.0.1:9/in")
    )
    before = datetime.now(UTC)
    rotated = await stub.RotateWebhookSecret(
        upb.RotateWebhookSecretRequest(endpoint_id=created.endpoint_id)
    )
    assert rotated.secret.startswith("whsec_")
    assert rotated.secret != created.secret
    expires = rotated.previous_secret_expires_at.ToDatetime(tzinfo=UTC)
    assert before + timedelta(hours=24) <= expires <= datetime.now(UTC) + timedelta(hours=24)
    shorter = await stub.RotateWebhookSecret(
        upb.RotateWebhookSecretRequest(
            endpoint_id=created.endpoint_id, previous_secret_valid_for=Duration(seconds=60)
        )
    )
    assert shorter.previous_secret_expires_at.ToDatetime(tzinfo=UTC) < expires
    too_long = await refused(
        stub.RotateWebhookSecret(
            upb.RotateWebhookSecretRequest(
                endpoint_id=created.endpoint_id,
                previous_secret_valid_for=Duration(seconds=8 * 86400),
            )
        )
    )
    assert bad_fields(too_long) == ["previous_secret_valid_for"]
    # Past what a Python timedelta holds (the fuzz suite found an INTERNAL here once).
    beyond = await refused(
        stub.RotateWebhookSecret(
            upb.RotateWebhookSecretRequest(
                endpoint_id=created.endpoint_id,
                previous_secret_valid_for=Duration(seconds=86_400_000_000_000),
            )
        )
    )
    assert bad_fields(beyond) == ["previous_secret_valid_for"]
    for secret in (created.secret, rotated.secret, shorter.secret):
        assert secret not in caplog.text


async def test_a_deleted_endpoint_is_gone(stub):
    created = await stub.CreateWebhookEndpoint(
        upb.CreateWebhookEndpointRequest(url="http://127.0.0.1:9/in")
    )
    await stub.DeleteWebhookEndpoint(
        upb.DeleteWebhookEndpointRequest(endpoint_id=created.endpoint_id)
    )
    assert (
        list((await stub.ListWebhookEndpoints(upb.ListWebhookEndpointsRequest())).endpoints) == []
    )
    for call in (
        stub.DeleteWebhookEndpoint(
            upb.DeleteWebhookEndpointRequest(endpoint_id=created.endpoint_id)
        ),
        stub.RotateWebhookSecret(upb.RotateWebhookSecretRequest(endpoint_id=created.endpoint_id)),
        stub.ListWebhookAttempts(upb.ListWebhookAttemptsRequest(endpoint_id=created.endpoint_id)),
    ):
        error = await refused(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        info = error_info(error)
        assert info is not None
        assert info.reason == "WEBHOOK_ENDPOINT_NOT_FOUND"


async def test_every_attempt_is_there_for_an_operator(stub, db, caplog):
    caplog.set_level(logging.DEBUG)
    replies = iter([Reply.ERROR])
    async with receiving(lambda _id, _nth: next(replies, Reply.OK)) as receiver:
        created = await stub.CreateWebhookEndpoint(
            upb.CreateWebhookEndpointRequest(url=receiver.url)
        )
        receiver.secrets = [created.secret]
        [event_id] = tell(db)
        await until(lambda: event_id in receiver.answered)  # the second try
    assert receiver.unverified == []
    page = await stub.ListWebhookAttempts(
        upb.ListWebhookAttemptsRequest(endpoint_id=created.endpoint_id)
    )
    newest_first = [(a.attempt, a.http_status, a.delivered, a.error) for a in page.attempts]
    assert newest_first == [(2, 204, True, ""), (1, 500, False, "HTTP 500")]
    assert all(a.event_id == event_id for a in page.attempts)
    assert page.attempts[1].HasField("next_attempt_at")
    assert not page.attempts[0].HasField("next_attempt_at")
    by_event = await stub.ListWebhookAttempts(
        upb.ListWebhookAttemptsRequest(event_id=event_id, page_size=1)
    )
    assert [a.attempt for a in by_event.attempts] == [2]
    rest = await stub.ListWebhookAttempts(
        upb.ListWebhookAttemptsRequest(
            event_id=event_id, page_size=1, page_token=by_event.next_page_token
        )
    )
    assert [a.attempt for a in rest.attempts] == [1]
    assert created.secret not in caplog.text


async def test_the_guides_grpcurl_calls_work_as_written(database_url):
    page = (ROOT / "docs" / "webhooks.md").read_text()
    found = re.search(r"<!-- webhook-examples:.*?-->\n```bash\n(.*?)```", page, re.DOTALL)
    assert found, "docs/webhooks.md lost its webhook-examples block"
    async with uploader(database_url, allow_private=True) as (stub, port):
        script = found.group(1).replace(f"127.0.0.1:{DevPorts().uploader}", f"127.0.0.1:{port}")
        env = {**os.environ, "PATH": f"{grpcurl_dir()}{os.pathsep}{os.environ['PATH']}"}
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(shell.communicate(), timeout=120)
        assert shell.returncode == 0, f"{out.decode()}\n{err.decode()}"
        listed = await stub.ListWebhookEndpoints(upb.ListWebhookEndpointsRequest())
    text = out.decode()
    assert '"secret": "whsec_' in text  # created, and rotated
    assert text.count('"secret"') == 2
    assert '"previous_secret_expires_at"' in text
    assert '"description": "my receiver"' in text
    assert list(listed.endpoints) == []  # and deleted at the end


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEBHOOKS_ALLOW_PRIVATE": "yes"}, "WEBHOOKS_ALLOW_PRIVATE"),
        ({"WEBHOOKS_TIMEOUT_SECONDS": "30", "WEBHOOKS_LEASE_SECONDS": "30"}, "LEASE_SECONDS"),
        ({"WEBHOOKS_IN_FLIGHT_PER_ENDPOINT": "0"}, "WEBHOOKS_IN_FLIGHT_PER_ENDPOINT"),
    ],
)
def test_a_bad_webhook_setting_stops_the_start_naming_it(env, named):
    with pytest.raises(ConfigError, match=named):
        WebhookSettings.from_env(Env(env))


def test_private_targets_are_refused_unless_the_setting_says_true():
    assert not WebhookSettings.from_env(Env({})).allow_private
    assert WebhookSettings.from_env(Env({"WEBHOOKS_ALLOW_PRIVATE": "TRUE"})).allow_private


def test_the_dev_stack_allows_private_targets_unless_told_otherwise():
    assert WebhookSettings.from_env(uploader_env(Env({}))).allow_private
    told = Env({"WEBHOOKS_ALLOW_PRIVATE": "false"})
    assert not WebhookSettings.from_env(uploader_env(told)).allow_private
