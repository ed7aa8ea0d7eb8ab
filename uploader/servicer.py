"""The gRPC face of the Uploader: validate, translate, call the service, translate back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc

from queuelabs.security import caller
from queuelabs.uploader.v1 import uploader_pb2 as pb
from queuelabs.uploader.v1 import uploader_pb2_grpc as pb_grpc
from uploader import convert
from uploader.service import UploaderService
from uploader.watch import EventWatch
from uploader.webhooks import convert as hooks
from uploader.webhooks.service import WebhookService

Context: TypeAlias = grpc.aio.ServicerContext


class UploaderServicer(pb_grpc.UploaderServicer):
    def __init__(
        self, service: UploaderService, *, events: EventWatch, webhooks: WebhookService
    ) -> None:
        self._service = service
        self._events = events
        self._webhooks = webhooks

    async def GetUpload(self, request: pb.GetUploadRequest, context: Context) -> pb.Upload:
        content_id = convert.uuid_field(request.content_id, "content_id")
        return convert.upload_out(await self._service.get_upload(content_id))

    async def ListUploads(
        self, request: pb.ListUploadsRequest, context: Context
    ) -> pb.ListUploadsResponse:
        query = convert.upload_query_in(request)
        views, more = await self._service.list_uploads(query)
        return convert.page_out(query, views, more)

    async def UploadNow(self, request: pb.UploadNowRequest, context: Context) -> pb.Upload:
        content_id = convert.uuid_field(request.content_id, "content_id")
        return convert.upload_out(await self._service.upload_now(content_id))

    async def RetryUpload(self, request: pb.RetryUploadRequest, context: Context) -> pb.Upload:
        content_id = convert.uuid_field(request.content_id, "content_id")
        return convert.upload_out(await self._service.retry_upload(content_id))

    async def CancelUpload(self, request: pb.CancelUploadRequest, context: Context) -> pb.Upload:
        content_id = convert.uuid_field(request.content_id, "content_id")
        reason = convert.reason_field(request.reason)
        return convert.upload_out(await self._service.cancel_upload(content_id, reason))

    async def PauseProfile(
        self, request: pb.PauseProfileRequest, context: Context
    ) -> pb.PauseState:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        reason = convert.reason_field(request.reason)
        paused = await self._service.pause(profile_id, platform, _caller_name(), reason)
        return convert.pause_out(paused)

    async def ResumeProfile(
        self, request: pb.ResumeProfileRequest, context: Context
    ) -> pb.PauseState:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        return convert.pause_out(await self._service.resume(profile_id, platform))

    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: Context
    ) -> AsyncIterator[pb.Event]:
        watch = convert.watch_in(request)
        start = await self._events.start(watch)
        # The response's headers say the watch holds its place: whatever commits from now on
        # reaches this stream (a caller may wait for them before changing things).
        await context.send_initial_metadata(())
        async for event in self._events.events(watch, start):
            yield convert.event_out(event)

    # Webhook endpoints (uploader/webhooks/)

    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context: Context
    ) -> pb.CreateWebhookEndpointResponse:
        endpoint, secret = await self._webhooks.create_endpoint(hooks.endpoint_spec_in(request))
        return hooks.created_out(endpoint, secret)

    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context: Context
    ) -> pb.ListWebhookEndpointsResponse:
        after, page_size = hooks.endpoints_page_in(request)
        return hooks.endpoints_page_out(*await self._webhooks.list_endpoints(after, page_size))

    async def DeleteWebhookEndpoint(
        self, request: pb.DeleteWebhookEndpointRequest, context: Context
    ) -> pb.DeleteWebhookEndpointResponse:
        await self._webhooks.delete_endpoint(convert.uuid_field(request.endpoint_id, "endpoint_id"))
        return pb.DeleteWebhookEndpointResponse()

    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: Context
    ) -> pb.RotateWebhookSecretResponse:
        endpoint_id = convert.uuid_field(request.endpoint_id, "endpoint_id")
        rotation = await self._webhooks.rotate_secret(endpoint_id, hooks.overlap_in(request))
        return hooks.rotated_out(rotation)

    async def ListWebhookAttempts(
        self, request: pb.ListWebhookAttemptsRequest, context: Context
    ) -> pb.ListWebhookAttemptsResponse:
        found, more = await self._webhooks.list_attempts(*hooks.attempts_query_in(request))
        return hooks.attempts_page_out(request, found, more)


def _caller_name() -> str:
    """The caller's AUTH_TOKENS name; "" when auth is off (nobody is named)."""
    return caller.get("")  # set by BearerAuth for an admitted call, never otherwise
