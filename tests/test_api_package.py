"""The stubs package as a calling team gets it: the queuelabs-api wheel, built from this tree,
installed into an empty virtual environment (with mypy and the grpcio/protobuf type stubs, as a
typed client project has them, all at the lock's versions), a small client in sync and asyncio
form checked with `mypy --strict`, then run against a real Allocator."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.locked import build_wheels, fresh_environment, install
from tests.support.processes import service_process

ROOT = Path(__file__).resolve().parent.parent

CLIENT = '''
"""A calling service's client of the Allocator, typed with queuelabs-api alone."""

from __future__ import annotations

import asyncio
import sys
import uuid

import grpc
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs_api import channel_options


def content() -> pb.Content:
    return pb.Content(
        content_id=str(uuid.uuid4()),
        media_type=pb.MEDIA_TYPE_VIDEO,
        media_url="https://cdn.example.com/clip.mp4",
    )


def set_up(address: str) -> str:
    """A profile with TikTok slots, the blocking way."""
    profile_id = str(uuid.uuid4())
    with grpc.insecure_channel(address, options=channel_options()) as channel:
        stub = AllocatorStub(channel)
        stub.UpsertProfile(
            pb.UpsertProfileRequest(
                profile_id=profile_id, name="Client", upload_post_user="client",
                timezone="Asia/Jakarta",
            ),
            timeout=10,
        )
        stub.SetSchedule(
            pb.SetScheduleRequest(
                profile_id=profile_id,
                platform=pb.PLATFORM_TIKTOK,
                slots=[pb.Slot(local_time="06:00"), pb.Slot(local_time="18:00")],
            ),
            timeout=10,
        )
    return profile_id


async def assign(address: str, profile_id: str) -> pb.Assignment:
    """A content into the next free slot, the asyncio way."""
    async with grpc.aio.insecure_channel(address, options=channel_options()) as channel:
        stub = AllocatorStub(channel)
        request = pb.AssignNextRequest(
            profile_id=profile_id, platform=pb.PLATFORM_TIKTOK, content=content()
        )
        got: pb.Assignment = await stub.AssignNext(request, timeout=10)
        return got


def main() -> None:
    address = sys.argv[1]
    profile_id = set_up(address)
    got = asyncio.run(assign(address, profile_id))
    print(got.content_id, got.scheduled_at.ToJsonString())


if __name__ == "__main__":
    main()
'''


# What the stubs' types must refuse: an answer taken for what it is not, an unknown field.
WRONG = """
import grpc
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub

with grpc.insecure_channel("127.0.0.1:1") as channel:
    schedule: pb.Schedule = AllocatorStub(channel).AssignNext(pb.AssignNextRequest())
    pb.AssignNextRequest(profile="p")
"""


@pytest.fixture(scope="module")
def client_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty virtual environment with the queuelabs-api wheel and a typed client's tools (the
    lock's `api-client` group: mypy and the grpcio/protobuf type stubs), all at locked versions."""
    where = tmp_path_factory.mktemp("client")
    [wheel] = build_wheels(where / "dist", "--package", "queuelabs-api")
    install(fresh_environment(where / "venv"), [wheel], groups=["api-client"])
    (where / "client.py").write_text(CLIENT)
    (where / "wrong.py").write_text(WRONG)
    return where


def test_the_wheel_needs_only_grpcio_and_protobuf(client_project: Path) -> None:
    python = client_project / "venv" / "bin" / "python"
    run = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m; print(sorted(m.requires('queuelabs-api')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=client_project,
    )
    assert run.stdout.strip() == "['grpcio>=1.70', 'protobuf>=5.29']"
    server = subprocess.run(
        [python, "-c", "import queuelabs.database"],
        capture_output=True,
        text=True,
        cwd=client_project,
    )
    assert server.returncode != 0  # the server is not in it: stubs only


def test_a_client_type_checks_with_mypy_strict(client_project: Path) -> None:
    run = subprocess.run(
        [client_project / "venv" / "bin" / "mypy", "--strict", "client.py"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=client_project,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The stubs carry real types: mypy refuses what they do not allow.
    wrong = subprocess.run(
        [client_project / "venv" / "bin" / "mypy", "--strict", "wrong.py"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=client_project,
    )
    assert wrong.returncode == 1, wrong.stdout
    assert 'expression has type "Assignment", variable has type "Schedule"' in wrong.stdout
    assert 'Unexpected keyword argument "profile"' in wrong.stdout


def test_the_client_calls_a_running_allocator(client_project: Path, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with service_process("allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url) as running:
        run = subprocess.run(
            [client_project / "venv" / "bin" / "python", "client.py", running.address],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=client_project,
            env=env,
        )
    assert run.returncode == 0, run.stderr
    content_id, scheduled_at = run.stdout.split()
    assert len(content_id) == 36
    assert scheduled_at.endswith("Z")
