"""Refusals carry gRPC's rich error details (AIP-193), read here as a calling service reads them
(grpcio-status): a google.rpc.ErrorInfo with a stable reason, the domain `queuelabs` and the ids
involved; a google.rpc.BadRequest naming the field at fault; a google.rpc.RetryInfo when asking
again later may succeed. docs/api.md lists every reason."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import grpc
import pytest
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo, RetryInfo

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.errors import DatabaseUnavailable
from queuelabs.status import details_of, error_info
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile, video
from tests.support.stack import running_stack


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def reason(error: grpc.aio.AioRpcError) -> tuple[str, str, dict[str, str]]:
    info = error_info(error)
    assert info is not None, error.details()
    return info.reason, info.domain, dict(info.metadata)


async def test_each_allocator_refusal_names_its_reason_and_ids(allocator):
    profile_id = await make_profile(allocator, slots=["06:00"])
    content = video()
    await assign(allocator, profile_id, content)
    missing = str(uuid.uuid4())
    on_instagram = video()
    on_instagram.platform_options.clear()  # privacy_level is TikTok's: refused on Instagram

    error = await refused(
        allocator.AssignNext(
            apb.AssignNextRequest(
                profile_id=profile_id, platform=apb.PLATFORM_INSTAGRAM, content=on_instagram
            )
        )
    )
    assert reason(error) == (
        "NO_SCHEDULE",
        "queuelabs",
        {"profile_id": profile_id, "platform": "instagram"},
    )

    twin = apb.Content()
    twin.CopyFrom(content)
    twin.title = "another payload"
    error = await refused(
        allocator.AssignNext(
            apb.AssignNextRequest(profile_id=profile_id, platform=apb.PLATFORM_TIKTOK, content=twin)
        )
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason(error) == ("CONTENT_ID_REUSED", "queuelabs", {"content_id": content.content_id})

    error = await refused(allocator.Release(apb.ReleaseRequest(content_id=missing)))
    assert reason(error) == ("CONTENT_NOT_FOUND", "queuelabs", {"content_id": missing})

    error = await refused(
        allocator.GetSchedule(
            apb.GetScheduleRequest(profile_id=missing, platform=apb.PLATFORM_TIKTOK)
        )
    )
    assert reason(error) == ("PROFILE_NOT_FOUND", "queuelabs", {"profile_id": missing})

    await allocator.Release(apb.ReleaseRequest(content_id=content.content_id))
    error = await refused(  # a released content's id, queued again
        allocator.AssignNext(
            apb.AssignNextRequest(
                profile_id=profile_id, platform=apb.PLATFORM_TIKTOK, content=content
            )
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == (
        "WRONG_STATE",
        "queuelabs",
        {"content_id": content.content_id, "state": "removed"},
    )


async def test_a_bad_field_is_named_in_a_bad_request(allocator):
    error = await refused(
        allocator.UpsertProfile(
            apb.UpsertProfileRequest(
                profile_id=str(uuid.uuid4()), name="x", upload_post_user="x", timezone="Mars/Base"
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(error)[:2] == ("INVALID_ARGUMENT", "queuelabs")
    [bad] = [d for d in details_of(error) if isinstance(d, BadRequest)]
    assert [v.field for v in bad.field_violations] == ["timezone"]
    assert not [d for d in details_of(error) if isinstance(d, RetryInfo)]


def test_what_may_succeed_later_says_when_to_ask_again():
    [info, retry] = _details_of_refusal(DatabaseUnavailable("the database is unreachable; retry"))
    assert isinstance(info, ErrorInfo)
    assert info.reason == "DATABASE_UNAVAILABLE"
    assert isinstance(retry, RetryInfo)
    assert retry.retry_delay.ToTimedelta().total_seconds() == 1.0


def _details_of_refusal(refusal: DatabaseUnavailable) -> list[object]:
    """A refusal's details as a client decodes them from the trailer the server sends."""

    class Call(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return refusal.status

        def details(self) -> str:
            return str(refusal)

        def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
            return refusal.trailing_metadata()

    return list(details_of(Call()))


async def test_the_uploader_refusals_name_their_reason_too(database_url):
    async with running_stack(database_url) as stack:
        missing = str(uuid.uuid4())
        error = await refused(stack.uploader.GetUpload(upb.GetUploadRequest(content_id=missing)))
        assert reason(error) == ("CONTENT_NOT_FOUND", "queuelabs", {"content_id": missing})
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        error = await refused(
            stack.uploader.RetryUpload(upb.RetryUploadRequest(content_id=content.content_id))
        )
        assert reason(error) == (
            "WRONG_STATE",
            "queuelabs",
            {"content_id": content.content_id, "state": "scheduled"},
        )
        error = await refused(
            stack.uploader.PauseProfile(
                upb.PauseProfileRequest(profile_id=missing, platform=apb.PLATFORM_TIKTOK)
            )
        )
        assert reason(error) == ("PROFILE_NOT_FOUND", "queuelabs", {"profile_id": missing})
