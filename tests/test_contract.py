"""The contract against its last release: protos/released.binpb (a buf image, committed, so it is
there whatever the clone's depth) is a real image of both services, today's protos break none of
its callers, a breaking change is caught, and scripts/release_contract.py moves the baseline
forward only when the move itself breaks nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorSet

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "protos" / "released.binpb"
ALLOCATOR_PROTO = Path("protos/queuelabs/allocator/v1/allocator.proto")
# The RPCs the design card names: a baseline without them is not the released contract.
RPCS = {
    "Allocator": {
        "UpsertProfile",
        "SetSchedule",
        "GetSchedule",
        "AssignNext",
        "BatchAssign",
        "Reschedule",
        "Release",
        "ListAssignments",
    },
    "Uploader": {
        "GetUpload",
        "ListUploads",
        "UploadNow",
        "RetryUpload",
        "CancelUpload",
        "PauseProfile",
        "ResumeProfile",
    },
}


def buf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    found = shutil.which("buf")
    assert found, "buf comes with the dev dependencies (buf-bin); this check is never skipped"
    return subprocess.run(
        [found, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def services_in(image: bytes) -> dict[str, set[str]]:
    # A buf image is wire-compatible with a FileDescriptorSet.
    files = FileDescriptorSet.FromString(image).file
    return {s.name: {m.name for m in s.method} for f in files for s in f.service}


def test_the_baseline_is_a_buf_image_of_both_services():
    assert BASELINE.is_file(), f"{BASELINE.relative_to(ROOT)} is missing: the check needs it"
    services = services_in(BASELINE.read_bytes())
    for service, rpcs in RPCS.items():
        assert rpcs <= services.get(service, set()), service
    read = buf("build", str(BASELINE), "-o", "/dev/null")
    assert read.returncode == 0, read.stderr


def test_the_contract_breaks_no_caller_of_the_last_release():
    check = buf("breaking", "--against", str(BASELINE))
    assert check.returncode == 0, check.stdout + check.stderr


def contract_copy(where: Path) -> Path:
    """buf.yaml and the .proto files of this tree, without the rest of it."""
    shutil.copy(ROOT / "buf.yaml", where / "buf.yaml")
    for proto in (ROOT / "protos").rglob("*.proto"):
        target = where / proto.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(proto, target)
    return where


def renumber_a_field(root: Path) -> None:
    proto = root / ALLOCATOR_PROTO
    text = proto.read_text()
    assert "string content_id = 1;" in text
    proto.write_text(text.replace("string content_id = 1;", "string content_id = 99;", 1))


def test_a_renumbered_field_fails_the_check(tmp_path):
    renumber_a_field(contract_copy(tmp_path))
    check = buf("breaking", "--against", str(BASELINE), cwd=tmp_path)
    assert check.returncode != 0
    assert "content_id" in check.stdout


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def release(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release_contract.py"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """A repository holding this contract, with this baseline committed as its last release."""
    contract_copy(tmp_path)
    shutil.copy(BASELINE, tmp_path / "protos" / "released.binpb")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "release")
    return tmp_path


def test_the_release_script_refuses_a_breaking_move_and_keeps_the_baseline(released):
    before = (released / "protos" / "released.binpb").read_bytes()
    renumber_a_field(released)
    git(released, "commit", "-q", "-am", "renumber")
    git(released, "commit", "-q", "--allow-empty", "-m", "something else")
    run = release(released)
    assert run.returncode != 0
    assert "refused: this contract breaks callers" in run.stderr
    assert "content_id" in run.stderr
    assert (released / "protos" / "released.binpb").read_bytes() == before


def test_the_release_script_moves_the_baseline_over_a_compatible_change(released):
    proto = released / ALLOCATOR_PROTO
    text = proto.read_text()
    proto.write_text(text + "\nmessage ReleasedLater {\n  string note = 1;\n}\n")
    unclean = release(released)
    assert unclean.returncode != 0
    assert "uncommitted changes" in unclean.stderr
    git(released, "commit", "-q", "-am", "add a message")
    run = release(released)
    assert run.returncode == 0, run.stderr
    files = FileDescriptorSet.FromString((released / "protos" / "released.binpb").read_bytes())
    messages = {m.name for f in files.file for m in f.message_type}
    assert "ReleasedLater" in messages


def test_the_release_script_never_starts_a_missing_baseline_over_unasked(released):
    (released / "protos" / "released.binpb").unlink()
    git(released, "commit", "-q", "-am", "lose the baseline")
    run = release(released)
    assert run.returncode != 0
    assert "--first" in run.stderr
    assert not (released / "protos" / "released.binpb").exists()
