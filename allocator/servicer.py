"""The gRPC face of the Allocator: validate, translate, call the service, translate back.

No business rule lives here. Every refusal becomes the status its exception names
(allocator/errors.py, through the queuelabs.errors.Refusals interceptor); nothing a caller sends can
produce UNKNOWN.
"""

from __future__ import annotations

import grpc

from allocator import convert
from allocator.service import AllocatorService
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1 import allocator_pb2_grpc as pb_grpc


class AllocatorServicer(pb_grpc.AllocatorServicer):
    def __init__(self, service: AllocatorService) -> None:
        self._service = service

    async def UpsertProfile(
        self, request: pb.UpsertProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.Profile:
        profile = await self._service.upsert_profile(convert.profile_in(request))
        return convert.profile_out(profile)

    async def SetSchedule(
        self, request: pb.SetScheduleRequest, context: grpc.aio.ServicerContext
    ) -> pb.Schedule:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        slots = convert.slots_in(list(request.slots))
        return convert.schedule_out(await self._service.set_schedule(profile_id, platform, slots))

    async def GetSchedule(
        self, request: pb.GetScheduleRequest, context: grpc.aio.ServicerContext
    ) -> pb.Schedule:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        return convert.schedule_out(await self._service.get_schedule(profile_id, platform))

    async def AssignNext(
        self, request: pb.AssignNextRequest, context: grpc.aio.ServicerContext
    ) -> pb.Assignment:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        if not request.HasField("content"):
            raise convert.InvalidArgument("content", "is required")
        content = convert.content_in(request.content, "content", platform)
        not_before = convert.timestamp_field(request, "not_before", "not_before")
        assignment = await self._service.assign_next(profile_id, platform, content, not_before)
        return convert.assignment_out(assignment)

    async def BatchAssign(
        self, request: pb.BatchAssignRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchAssignResponse:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        self._service.check_batch_size(len(request.contents))
        contents = [
            convert.content_in(c, f"contents[{i}]", platform)
            for i, c in enumerate(request.contents)
        ]
        not_before = convert.timestamp_field(request, "not_before", "not_before")
        assignments = await self._service.batch_assign(profile_id, platform, contents, not_before)
        return pb.BatchAssignResponse(assignments=[convert.assignment_out(a) for a in assignments])

    async def Reschedule(
        self, request: pb.RescheduleRequest, context: grpc.aio.ServicerContext
    ) -> pb.Assignment:
        content_id = convert.uuid_field(request.content_id, "content_id")
        not_before = convert.timestamp_field(request, "not_before", "not_before")
        reason = convert.reason_field(request.reason)
        return convert.assignment_out(
            await self._service.reschedule(content_id, not_before, reason)
        )

    async def Release(
        self, request: pb.ReleaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseResponse:
        content_id = convert.uuid_field(request.content_id, "content_id")
        reason = convert.reason_field(request.reason)
        assignment, removed_at = await self._service.release(content_id, reason, request.cancel)
        return pb.ReleaseResponse(
            assignment=convert.assignment_out(assignment),
            removed_at=convert.timestamp_out(removed_at),
        )

    async def GetContent(
        self, request: pb.GetContentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Content:
        content_id = convert.uuid_field(request.content_id, "content_id")
        return convert.content_out(await self._service.get_content(content_id))

    async def UpdateContent(
        self, request: pb.UpdateContentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Content:
        if not request.HasField("content"):
            raise convert.InvalidArgument("content", "is required (its content_id says which)")
        content_id = convert.uuid_field(request.content.content_id, "content.content_id")
        paths = convert.update_mask_in(request)
        expected_revision = convert.revision_field(request.expected_revision)
        # A content's platform never changes: its fields are checked for it before the lock.
        platform = await self._service.platform_of(content_id)
        patch = convert.content_patch_in(request.content, "content", platform, paths)
        updated = await self._service.update_content(content_id, patch, expected_revision)
        return convert.content_out(updated)

    async def ListAssignments(
        self, request: pb.ListAssignmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAssignmentsResponse:
        query = convert.assignment_query_in(request)
        return convert.page_out(query, await self._service.list_assignments(query))

    async def MoveContent(
        self, request: pb.MoveContentRequest, context: grpc.aio.ServicerContext
    ) -> pb.Assignment:
        content_id = convert.uuid_field(request.content_id, "content_id")
        to = convert.timestamp_field(request, "scheduled_at", "scheduled_at")
        if to is None:
            raise convert.InvalidArgument(
                "scheduled_at", "is required (a free slot instant; GetCalendar lists them)"
            )
        reason = convert.reason_field(request.reason)
        return convert.assignment_out(await self._service.move_content(content_id, to, reason))

    async def GetCalendar(
        self, request: pb.GetCalendarRequest, context: grpc.aio.ServicerContext
    ) -> pb.Calendar:
        profile_id = convert.uuid_field(request.profile_id, "profile_id")
        platform = convert.platform_field(request.platform)
        start = convert.timestamp_field(request, "start_time", "start_time")
        end = convert.timestamp_field(request, "end_time", "end_time")
        calendar = await self._service.get_calendar(profile_id, platform, start, end)
        return convert.calendar_out(calendar)
