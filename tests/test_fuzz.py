"""Fuzzed input for every RPC of the Allocator (hypothesis): random and hostile strings (unicode,
NUL, SQL, huge), out-of-range enums and timestamps, empty and huge repeated fields, unknown
fields. Every answer is a documented status (never INTERNAL or UNKNOWN), a refusal changes
nothing stored, and the server goes on serving.

CI runs a bounded number of examples per RPC; FUZZ_EXAMPLES=N runs more.
"""

from __future__ import annotations

import hashlib
import os
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

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from tests.support.databases import DatabaseFactory
from tests.support.processes import allocator_process

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
SERVICE = pb.DESCRIPTOR.services_by_name["Allocator"]
TABLES = ("profiles", "schedules", "schedule_slots", "contents", "free_slots")


class Target:
    """A running Allocator process with a seeded profile, contents and ids worth guessing."""

    def __init__(self, address: str, database_url: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = AllocatorStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.database_url = database_url
        self.profile_id = str(uuid.uuid4())
        self.stub.UpsertProfile(
            pb.UpsertProfileRequest(
                profile_id=self.profile_id,
                name="Fuzzed",
                upload_post_user="fuzzed",
                timezone="Asia/Jakarta",
            )
        )
        self.stub.SetSchedule(
            pb.SetScheduleRequest(
                profile_id=self.profile_id,
                platform=pb.PLATFORM_TIKTOK,
                slots=[pb.Slot(local_time="06:00"), pb.Slot(local_time="18:00")],
            )
        )
        self.content_id = str(uuid.uuid4())
        self.stub.AssignNext(
            pb.AssignNextRequest(
                profile_id=self.profile_id,
                platform=pb.PLATFORM_TIKTOK,
                content=pb.Content(
                    content_id=self.content_id,
                    media_type=pb.MEDIA_TYPE_VIDEO,
                    media_url="https://cdn.example.com/a.mp4",
                ),
            )
        )

    def snapshot(self) -> str:
        """A digest of everything the Allocator stores."""
        digest = hashlib.sha256()
        with psycopg.connect(self.database_url) as conn:
            for table in TABLES:
                rows = conn.execute(f"select * from {table} order by 1, 2, 3").fetchall()
                digest.update(repr(rows).encode())
        return digest.hexdigest()


@pytest.fixture(scope="module")
def target(databases: DatabaseFactory) -> Iterator[Target]:
    database_url = databases.url(databases.create_from_template())
    with allocator_process(database_url, ALLOCATOR_DB_POOL_SIZE="4") as address:
        seeded = Target(address, database_url)
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


@pytest.mark.parametrize("method", [m.name for m in SERVICE.methods])
def test_fuzzed_requests_get_documented_statuses_and_change_nothing_when_refused(
    target: Target, method: str
) -> None:
    descriptor = SERVICE.methods_by_name[method]
    request_class: type[Message] = descriptor.input_type._concrete_class  # type: ignore[attr-defined]
    known = [target.profile_id, target.content_id]
    call = target.channel.unary_unary(
        f"/{SERVICE.full_name}/{method}",
        request_serializer=lambda raw: raw,
        response_deserializer=lambda raw: raw,
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=message(request_class, known), unknown=st.booleans())
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


def test_garbage_and_oversized_requests_are_refused_cleanly(target: Target) -> None:
    call = target.channel.unary_unary(
        f"/{SERVICE.full_name}/AssignNext",
        request_serializer=lambda raw: raw,
        response_deserializer=lambda raw: raw,
    )
    before = target.snapshot()
    for wire in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\x0f", b"\x00" * 64, b"x" * 5_000_000):
        with pytest.raises(grpc.RpcError) as refused:
            call(wire, timeout=30)
        assert refused.value.code() in DOCUMENTED, (wire[:8], refused.value.code())
    assert target.snapshot() == before
    reply = target.health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
