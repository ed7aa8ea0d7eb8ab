"""Fuzzed input for every RPC of both services (hypothesis): random and hostile strings (unicode,
NUL, SQL, huge), out-of-range enums and timestamps, empty and huge repeated fields, unknown
fields, bytes that are no message, oversized messages. Every answer is a documented status
(never INTERNAL or UNKNOWN), a refusal changes nothing stored, and the server goes on serving.

The Uploader runs beside an Allocator and a sandbox, so that a request it takes (UploadNow,
RetryUpload) is carried out for real; each example waits until what such a request started has
settled, so that a refusal is judged on a database nothing else is changing.

CI runs a bounded number of examples per RPC; FUZZ_EXAMPLES=N runs more.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.processes import part_on_any_port
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.status import error_info
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.databases import DatabaseFactory
from tests.support.processes import allocator_process, service_process
from tests.support.stack import KEY

# Hypothesis warns that a 70,000-character example makes a long repr: it is meant to be long.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.UNAVAILABLE,
}
ALLOCATOR = pb.DESCRIPTOR.services_by_name["Allocator"]
UPLOADER = upb.DESCRIPTOR.services_by_name["Uploader"]
ALLOCATOR_TABLES = ("profiles", "schedules", "schedule_slots", "contents", "free_slots")
UPLOADER_TABLES = (
    *ALLOCATOR_TABLES,
    "upload_attempts",
    "upload_successes",
    "paused_keys",
    "upload_post_pause",
)
# Where a content is on its way (the Uploader's workers are still moving it); a scheduled one
# due within a minute (UploadNow) is about to be.
MOVING = ("uploading", "unknown_outcome", "retry_pending", "awaiting_slot")


class Target:
    """A running service on a database with a seeded profile, contents and ids worth guessing."""

    def __init__(
        self, service: Any, address: str, allocator: str, database_url: str, tables: tuple[str, ...]
    ) -> None:
        self.service = service
        self.channel = grpc.insecure_channel(address)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.database_url = database_url
        self.tables = tables
        self.profile_id = str(uuid.uuid4())
        with grpc.insecure_channel(allocator) as channel:
            stub = AllocatorStub(channel)
            stub.UpsertProfile(
                pb.UpsertProfileRequest(
                    profile_id=self.profile_id,
                    name="Fuzzed",
                    upload_post_user="fuzzed",
                    timezone="Asia/Jakarta",
                )
            )
            stub.SetSchedule(
                pb.SetScheduleRequest(
                    profile_id=self.profile_id,
                    platform=pb.PLATFORM_TIKTOK,
                    slots=[pb.Slot(local_time="06:00"), pb.Slot(local_time="18:00")],
                )
            )
            self.content_ids = [str(uuid.uuid4()) for _ in range(2)]
            for content_id in self.content_ids:
                stub.AssignNext(
                    pb.AssignNextRequest(
                        profile_id=self.profile_id,
                        platform=pb.PLATFORM_TIKTOK,
                        content=pb.Content(
                            content_id=content_id,
                            media_type=pb.MEDIA_TYPE_VIDEO,
                            media_url="https://cdn.example.com/a.mp4",
                        ),
                    )
                )
        with psycopg.connect(database_url, autocommit=True) as conn:
            # The second one failed (for RetryUpload to take): freed as the Uploader frees it.
            conn.execute(
                "update contents set status = 'failed', status_reason = 'fuzz'"
                " where content_id = %s",
                (self.content_ids[1],),
            )

    @property
    def known(self) -> list[str]:
        return [self.profile_id, *self.content_ids]

    def call(self, method: str) -> Any:
        if self.service.methods_by_name[method].server_streaming:
            return self._opened(method)
        return self.channel.unary_unary(
            f"/{self.service.full_name}/{method}",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )

    def _opened(self, method: str) -> Any:
        """A server stream (WatchEvents) as one call: refused, it raises as a unary call does;
        taken (its headers came, it would stream until the caller leaves), it is left and
        counts as answered."""
        open_stream = self.channel.unary_stream(
            f"/{self.service.full_name}/{method}",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )

        def opened(wire: bytes, timeout: float) -> None:
            stream = open_stream(wire, timeout=timeout)
            stream.initial_metadata()  # the headers, or the refusal's end
            if stream.done() and stream.code() != grpc.StatusCode.OK:
                raise stream
            stream.cancel()

        return opened

    def snapshot(self) -> str:
        """A digest of everything the service stores, once nothing is on its way or due."""
        deadline = time.monotonic() + 60
        while True:
            with psycopg.connect(self.database_url) as conn:
                row = conn.execute(
                    "select count(*) from contents where status = any(%s)"
                    " or (status = 'scheduled'"
                    "     and coalesce(next_retry_at, scheduled_at) < now() + interval '1 minute')",
                    (list(MOVING),),
                ).fetchone()
                if (row and row[0] == 0) or time.monotonic() > deadline:
                    digest = hashlib.sha256()
                    for table in self.tables:
                        rows = conn.execute(f"select * from {table} order by 1, 2, 3").fetchall()
                        digest.update(repr(rows).encode())
                    return digest.hexdigest()
            time.sleep(0.05)  # real: polls a real system until it is quiet


@pytest.fixture(scope="module")
def allocator_target(databases: DatabaseFactory) -> Iterator[Target]:
    database_url = databases.url(databases.create_from_template())
    with allocator_process(database_url, ALLOCATOR_DB_POOL_SIZE="4") as address:
        seeded = Target(ALLOCATOR, address, address, database_url, ALLOCATOR_TABLES)
        yield seeded
        seeded.channel.close()


@pytest.fixture(scope="module")
def uploader_target(databases: DatabaseFactory) -> Iterator[Target]:
    database_url = databases.url(databases.create_from_template())
    with (
        allocator_process(database_url, ALLOCATOR_DB_POOL_SIZE="4") as allocator,
        part_on_any_port("sandbox", "SANDBOX_LISTEN", SANDBOX_API_KEY=KEY) as (_, sandbox_port),
        service_process(
            "uploader",
            "UPLOADER_LISTEN",
            DATABASE_URL=database_url,
            ALLOCATOR_ADDR=allocator,
            UPLOAD_POST_BASE_URL=f"http://127.0.0.1:{sandbox_port}/api",
            UPLOAD_POST_API_KEY=KEY,
            UPLOADER_DB_POOL_SIZE="4",
            UPLOADER_IDLE_SECONDS="0.05",
            UPLOAD_POST_REQUESTS_PER_MINUTE="100000",
            UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE="100000",
        ) as uploader,
    ):
        seeded = Target(UPLOADER, uploader.address, allocator, database_url, UPLOADER_TABLES)
        yield seeded
        seeded.channel.close()


def hostile_text(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "",
                " ",
                "\x00",
                "a\x00b",
                "'; drop table contents; --",
                "%(now)s",
                "{slot_holding}",
                "😀" * 20,
                "ẞ" * 3000,
                "x" * 70_000,
                "https://cdn.example.com/a.mp4",
                "06:00",
                "24:00",
                "Asia/Jakarta",
                "../../etc/passwd",
                *known,
            ]
        ),
        st.uuids().map(str),
    )


def timestamps() -> st.SearchStrategy[Timestamp]:
    return st.builds(
        Timestamp,
        seconds=st.one_of(st.integers(-(2**62), 2**62), st.integers(1_700_000_000, 1_900_000_000)),
        nanos=st.integers(-(2**31), 2**31 - 1),
    )


def value(field: Any, known: list[str], depth: int) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == field.TYPE_STRING:
        return hostile_text(known)
    if kind == field.TYPE_ENUM:
        return st.integers(-3, 40)  # proto3 enums take any number: most are no member at all
    if kind == field.TYPE_BOOL:
        return st.booleans()
    if kind in (field.TYPE_INT32, field.TYPE_SINT32, field.TYPE_UINT32):
        return st.integers(-(2**31) if kind != field.TYPE_UINT32 else 0, 2**31 - 1)
    if kind in (field.TYPE_INT64, field.TYPE_SINT64, field.TYPE_UINT64):
        return st.integers(-(2**63) if kind != field.TYPE_UINT64 else 0, 2**63 - 1)
    if kind == field.TYPE_MESSAGE:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return timestamps()
        return message(field.message_type._concrete_class, known, depth + 1)
    raise AssertionError(f"no strategy for {field.full_name}")


def message(cls: type[Message], known: list[str], depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of `cls`, each field present or not, filled with hostile values."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in cls.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, val = field.message_type.fields_by_name.values()
            fields[field.name] = st.dictionaries(
                value(key, known, depth), value(val, known, depth), max_size=60
            )
        elif field.is_repeated:
            if depth > 1:
                continue
            fields[field.name] = st.one_of(
                st.lists(value(field, known, depth), max_size=5),
                st.lists(value(field, known, depth), min_size=95, max_size=130),
            )
        elif depth <= 2:
            fields[field.name] = value(field, known, depth)

    def build(chosen: dict[str, Any]) -> Message:
        built = cls()
        for name, val in chosen.items():
            target_field = getattr(built, name)
            if isinstance(val, dict):
                target_field.update(val)
            elif isinstance(val, list):
                if val and isinstance(val[0], Message):
                    target_field.extend(val)
                else:
                    target_field.extend(val)
            elif isinstance(val, Message):
                target_field.CopyFrom(val)
            else:
                setattr(built, name, val)
        return built

    return st.fixed_dictionaries({}, optional=fields).map(build)


def with_unknown_fields(request: Message) -> bytes:
    """The request on the wire with a field number no version of the contract uses."""
    return request.SerializeToString() + b"\xf8\xff\x03\x01"  # field 65535, varint 1


@pytest.mark.parametrize(
    ("service", "method"),
    [("allocator", m.name) for m in ALLOCATOR.methods]
    + [("uploader", m.name) for m in UPLOADER.methods],
)
def test_fuzzed_requests_get_documented_statuses_and_change_nothing_when_refused(
    request: pytest.FixtureRequest, service: str, method: str
) -> None:
    target: Target = request.getfixturevalue(f"{service}_target")
    descriptor = target.service.methods_by_name[method]
    request_class: type[Message] = descriptor.input_type._concrete_class
    call = target.call(method)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=message(request_class, target.known), unknown=st.booleans())
    def one(request: Message, unknown: bool) -> None:
        before = target.snapshot()
        wire = with_unknown_fields(request) if unknown else request.SerializeToString()
        details = ""
        try:
            call(wire, timeout=30)
            code = grpc.StatusCode.OK
        except grpc.RpcError as failed:
            code, details = failed.code(), failed.details()
        assert code in DOCUMENTED, (method, code, details, request)
        if code != grpc.StatusCode.OK:
            assert target.snapshot() == before, (method, code, "changed on a refusal")

    one()
    reply = target.health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("service", "method"), [("allocator", "AssignNext"), ("uploader", "UploadNow")]
)
def test_garbage_and_oversized_requests_are_refused_cleanly(
    request: pytest.FixtureRequest, service: str, method: str
) -> None:
    target: Target = request.getfixturevalue(f"{service}_target")
    call = target.call(method)
    before = target.snapshot()
    for wire in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\x0f", b"\x00" * 64, b"x" * 5_000_000):
        with pytest.raises(grpc.RpcError) as refused:
            call(wire, timeout=30)
        assert refused.value.code() in DOCUMENTED, (wire[:8], refused.value.code())
        if refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT:
            info = error_info(refused.value)
            assert info is not None
            assert info.reason == "UNDECODABLE_REQUEST"
    assert target.snapshot() == before
    reply = target.health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
