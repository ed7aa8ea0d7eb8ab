import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Platform(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLATFORM_UNSPECIFIED: _ClassVar[Platform]
    PLATFORM_TIKTOK: _ClassVar[Platform]
    PLATFORM_INSTAGRAM: _ClassVar[Platform]
    PLATFORM_YOUTUBE: _ClassVar[Platform]
    PLATFORM_FACEBOOK: _ClassVar[Platform]
    PLATFORM_LINKEDIN: _ClassVar[Platform]
    PLATFORM_X: _ClassVar[Platform]
    PLATFORM_THREADS: _ClassVar[Platform]
    PLATFORM_PINTEREST: _ClassVar[Platform]

class MediaType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_TYPE_UNSPECIFIED: _ClassVar[MediaType]
    MEDIA_TYPE_VIDEO: _ClassVar[MediaType]
    MEDIA_TYPE_PHOTO: _ClassVar[MediaType]
    MEDIA_TYPE_TEXT: _ClassVar[MediaType]
PLATFORM_UNSPECIFIED: Platform
PLATFORM_TIKTOK: Platform
PLATFORM_INSTAGRAM: Platform
PLATFORM_YOUTUBE: Platform
PLATFORM_FACEBOOK: Platform
PLATFORM_LINKEDIN: Platform
PLATFORM_X: Platform
PLATFORM_THREADS: Platform
PLATFORM_PINTEREST: Platform
MEDIA_TYPE_UNSPECIFIED: MediaType
MEDIA_TYPE_VIDEO: MediaType
MEDIA_TYPE_PHOTO: MediaType
MEDIA_TYPE_TEXT: MediaType

class Profile(_message.Message):
    __slots__ = ("profile_id", "name", "upload_post_user", "timezone", "create_time", "update_time")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_POST_USER_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    name: str
    upload_post_user: str
    timezone: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, profile_id: _Optional[str] = ..., name: _Optional[str] = ..., upload_post_user: _Optional[str] = ..., timezone: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Slot(_message.Message):
    __slots__ = ("local_time", "weekdays", "slot_id")
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    WEEKDAYS_FIELD_NUMBER: _ClassVar[int]
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    local_time: str
    weekdays: _containers.RepeatedScalarFieldContainer[int]
    slot_id: str
    def __init__(self, local_time: _Optional[str] = ..., weekdays: _Optional[_Iterable[int]] = ..., slot_id: _Optional[str] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("profile_id", "platform", "slots", "update_time")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: Platform
    slots: _containers.RepeatedCompositeFieldContainer[Slot]
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., slots: _Optional[_Iterable[_Union[Slot, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Content(_message.Message):
    __slots__ = ("content_id", "media_url", "title", "description", "media_type", "platform_options")
    class PlatformOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    media_url: str
    title: str
    description: str
    media_type: MediaType
    platform_options: _containers.ScalarMap[str, str]
    def __init__(self, content_id: _Optional[str] = ..., media_url: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., media_type: _Optional[_Union[MediaType, str]] = ..., platform_options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("content_id", "profile_id", "platform", "slot_id", "scheduled_at", "status")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    SLOT_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    profile_id: str
    platform: Platform
    slot_id: str
    scheduled_at: _timestamp_pb2.Timestamp
    status: str
    def __init__(self, content_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., slot_id: _Optional[str] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ...) -> None: ...

class UpsertProfileRequest(_message.Message):
    __slots__ = ("profile_id", "name", "upload_post_user", "timezone")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_POST_USER_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    name: str
    upload_post_user: str
    timezone: str
    def __init__(self, profile_id: _Optional[str] = ..., name: _Optional[str] = ..., upload_post_user: _Optional[str] = ..., timezone: _Optional[str] = ...) -> None: ...

class SetScheduleRequest(_message.Message):
    __slots__ = ("profile_id", "platform", "slots")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: Platform
    slots: _containers.RepeatedCompositeFieldContainer[Slot]
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., slots: _Optional[_Iterable[_Union[Slot, _Mapping]]] = ...) -> None: ...

class GetScheduleRequest(_message.Message):
    __slots__ = ("profile_id", "platform")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: Platform
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ...) -> None: ...

class AssignNextRequest(_message.Message):
    __slots__ = ("profile_id", "platform", "content", "not_before")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: Platform
    content: Content
    not_before: _timestamp_pb2.Timestamp
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BatchAssignRequest(_message.Message):
    __slots__ = ("profile_id", "platform", "contents", "not_before")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: Platform
    contents: _containers.RepeatedCompositeFieldContainer[Content]
    not_before: _timestamp_pb2.Timestamp
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., contents: _Optional[_Iterable[_Union[Content, _Mapping]]] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BatchAssignResponse(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class RescheduleRequest(_message.Message):
    __slots__ = ("content_id", "not_before", "reason")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    not_before: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, content_id: _Optional[str] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("content_id", "reason")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    reason: str
    def __init__(self, content_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("assignment", "removed_at")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    REMOVED_AT_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    removed_at: _timestamp_pb2.Timestamp
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ..., removed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAssignmentsRequest(_message.Message):
    __slots__ = ("profile_id", "platform", "start_time", "end_time", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: Platform
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAssignmentsResponse(_message.Message):
    __slots__ = ("assignments", "next_page_token")
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    next_page_token: str
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
