"""The gRPC face of the Uploader: validate, translate, call the service, translate back."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from queuelabs.uploader.v1 import uploader_pb2 as pb
from queuelabs.uploader.v1 import uploader_pb2_grpc as pb_grpc
from uploader import convert
from uploader.service import UploaderService

Context: TypeAlias = grpc.aio.ServicerContext


class UploaderServicer(pb_grpc.UploaderServicer):
    def __init__(self, service: UploaderService) -> None:
        self._service = service

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
        return convert.pause_out(await self._service.pause(profile_id, platform))

    async def ResumeProfile(
        self, request: pb.ResumeProfileRequest, context: Context
    ) -> pb.PauseState:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        return convert.pause_out(await self._service.resume(profile_id, platform))
