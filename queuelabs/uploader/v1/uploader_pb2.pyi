import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from queuelabs.allocator.v1 import allocator_pb2 as _allocator_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_STATE_UNSPECIFIED: _ClassVar[UploadState]
    UPLOAD_STATE_SCHEDULED: _ClassVar[UploadState]
    UPLOAD_STATE_UPLOADING: _ClassVar[UploadState]
    UPLOAD_STATE_RETRY_PENDING: _ClassVar[UploadState]
    UPLOAD_STATE_UNKNOWN_OUTCOME: _ClassVar[UploadState]
    UPLOAD_STATE_UPLOADED: _ClassVar[UploadState]
    UPLOAD_STATE_FAILED: _ClassVar[UploadState]
    UPLOAD_STATE_CANCELLED: _ClassVar[UploadState]
    UPLOAD_STATE_AWAITING_SLOT: _ClassVar[UploadState]
UPLOAD_STATE_UNSPECIFIED: UploadState
UPLOAD_STATE_SCHEDULED: UploadState
UPLOAD_STATE_UPLOADING: UploadState
UPLOAD_STATE_RETRY_PENDING: UploadState
UPLOAD_STATE_UNKNOWN_OUTCOME: UploadState
UPLOAD_STATE_UPLOADED: UploadState
UPLOAD_STATE_FAILED: UploadState
UPLOAD_STATE_CANCELLED: UploadState
UPLOAD_STATE_AWAITING_SLOT: UploadState

class Attempt(_message.Message):
    __slots__ = ("number", "started_at", "finished_at", "outcome", "http_status", "request_id", "error")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    number: int
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    outcome: str
    http_status: int
    request_id: str
    error: str
    def __init__(self, number: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[str] = ..., http_status: _Optional[int] = ..., request_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class Upload(_message.Message):
    __slots__ = ("content_id", "profile_id", "platform", "state", "scheduled_at", "attempts", "failure_reason", "post_url", "retry_count", "next_retry_at")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    POST_URL_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    profile_id: str
    platform: _allocator_pb2.Platform
    state: UploadState
    scheduled_at: _timestamp_pb2.Timestamp
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    failure_reason: str
    post_url: str
    retry_count: int
    next_retry_at: _timestamp_pb2.Timestamp
    def __init__(self, content_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., platform: _Optional[_Union[_allocator_pb2.Platform, str]] = ..., state: _Optional[_Union[UploadState, str]] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., failure_reason: _Optional[str] = ..., post_url: _Optional[str] = ..., retry_count: _Optional[int] = ..., next_retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetUploadRequest(_message.Message):
    __slots__ = ("content_id",)
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    def __init__(self, content_id: _Optional[str] = ...) -> None: ...

class ListUploadsRequest(_message.Message):
    __slots__ = ("profile_id", "platform", "states", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: _allocator_pb2.Platform
    states: _containers.RepeatedScalarFieldContainer[UploadState]
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[_allocator_pb2.Platform, str]] = ..., states: _Optional[_Iterable[_Union[UploadState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUploadsResponse(_message.Message):
    __slots__ = ("uploads", "next_page_token")
    UPLOADS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    uploads: _containers.RepeatedCompositeFieldContainer[Upload]
    next_page_token: str
    def __init__(self, uploads: _Optional[_Iterable[_Union[Upload, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UploadNowRequest(_message.Message):
    __slots__ = ("content_id",)
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    def __init__(self, content_id: _Optional[str] = ...) -> None: ...

class RetryUploadRequest(_message.Message):
    __slots__ = ("content_id",)
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    def __init__(self, content_id: _Optional[str] = ...) -> None: ...

class CancelUploadRequest(_message.Message):
    __slots__ = ("content_id", "reason")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    reason: str
    def __init__(self, content_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PauseProfileRequest(_message.Message):
    __slots__ = ("profile_id", "platform")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: _allocator_pb2.Platform
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[_allocator_pb2.Platform, str]] = ...) -> None: ...

class ResumeProfileRequest(_message.Message):
    __slots__ = ("profile_id", "platform")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: _allocator_pb2.Platform
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[_allocator_pb2.Platform, str]] = ...) -> None: ...

class PauseState(_message.Message):
    __slots__ = ("profile_id", "platform", "paused", "paused_at")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    PAUSED_AT_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    platform: _allocator_pb2.Platform
    paused: bool
    paused_at: _timestamp_pb2.Timestamp
    def __init__(self, profile_id: _Optional[str] = ..., platform: _Optional[_Union[_allocator_pb2.Platform, str]] = ..., paused: _Optional[bool] = ..., paused_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
