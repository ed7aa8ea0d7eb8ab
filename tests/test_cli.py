"""The `queuelabs` command as an operator runs it: real processes, real signals."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import psutil
import psycopg
import pytest

from commands.dev import DEMO_PROFILE_ID
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from tests.support.calls import video
from tests.support.processes import (
    QUEUELABS,
    dev_log,
    part_on_any_port,
    service_process,
    start_dev_serving,
    unanswered_address,
)

ROOT = Path(__file__).resolve().parent.parent


def queuelabs(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`queuelabs ARGS` with its metrics off unless `env` says otherwise: the default metrics
    port is a fixed one, which another copy of the suite may hold."""
    return subprocess.Popen(
        [*QUEUELABS, *args],
        env={**os.environ, "METRICS_LISTEN": "off", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_migrate_started_four_times_at_once_applies_the_schema_once(empty_database_url):
    runs = [queuelabs("migrate", env={"DATABASE_URL": empty_database_url}) for _ in range(4)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    with psycopg.connect(empty_database_url) as conn:
        head = sorted((ROOT / "migrations" / "versions").glob("0*.py"))[-1].name[:4]
        assert conn.execute("select version_num from alembic_version").fetchall() == [(head,)]
    again = queuelabs("migrate", env={"DATABASE_URL": empty_database_url})
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"schema is at revision {head}" in err


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL: not set"),
        ({"ALLOCATOR_LISTEN": "nowhere"}, "ALLOCATOR_LISTEN: 'nowhere' is not HOST:PORT"),
        ({"ALLOCATOR_LISTEN": "127.0.0.1:99999"}, "ALLOCATOR_LISTEN"),
        ({"ALLOCATOR_DB_POOL_SIZE": "many"}, "ALLOCATOR_DB_POOL_SIZE: 'many' is not a whole"),
        ({"ALLOCATOR_DB_POOL_SIZE": "0"}, "ALLOCATOR_DB_POOL_SIZE: 0 is outside 1..500"),
        ({"ALLOCATOR_LEAD_SECONDS": "-5"}, "ALLOCATOR_LEAD_SECONDS"),
        ({"ALLOCATOR_HORIZON_DAYS": "1.5"}, "ALLOCATOR_HORIZON_DAYS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL: 'LOUD'"),
    ],
)
def test_a_bad_setting_stops_the_process_naming_the_variable(database_url, env, named):
    run = queuelabs("allocator", env={"DATABASE_URL": database_url, **env})
    _, err = run.communicate(timeout=60)
    assert run.returncode != 0
    assert named in err


UPLOADER_ENV = {
    "ALLOCATOR_ADDR": "127.0.0.1:9",  # never reached: the settings stop it first
    "UPLOAD_POST_API_KEY": "k",
    "UPLOAD_POST_BASE_URL": "http://127.0.0.1:9/api",
}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ALLOCATOR_ADDR": ""}, "ALLOCATOR_ADDR: not set"),
        ({"UPLOAD_POST_API_KEY": ""}, "UPLOAD_POST_API_KEY: not set"),
        ({"UPLOAD_POST_BASE_URL": "api.upload-post.com"}, "UPLOAD_POST_BASE_URL"),
        ({"UPLOADER_LISTEN": "here"}, "UPLOADER_LISTEN"),
        ({"UPLOADER_LEASE_SECONDS": "30"}, "UPLOADER_LEASE_SECONDS: 30.0 must exceed"),
        ({"UPLOADER_RETRY_DELAYS_INSTAGRAM": "30,soon"}, "UPLOADER_RETRY_DELAYS_INSTAGRAM"),
        ({"UPLOADER_WHEN_EXHAUSTED_TIKTOK": "panic"}, "UPLOADER_WHEN_EXHAUSTED_TIKTOK"),
        ({"UPLOADER_MAX_IN_FLIGHT": "0"}, "UPLOADER_MAX_IN_FLIGHT"),
        ({"UPLOAD_POST_REQUESTS_PER_MINUTE": "fast"}, "UPLOAD_POST_REQUESTS_PER_MINUTE"),
        ({"UPLOAD_POST_DAILY_CAP_TIKTOK": "0"}, "UPLOAD_POST_DAILY_CAP_TIKTOK"),
    ],
)
def test_a_bad_uploader_setting_stops_it_naming_the_variable(database_url, env, named):
    run = queuelabs("uploader", env={"DATABASE_URL": database_url, **UPLOADER_ENV, **env})
    _, err = run.communicate(timeout=60)
    assert run.returncode != 0
    assert named in err
    assert "Traceback" not in err


def test_the_sandbox_runs_as_its_own_process():
    with part_on_any_port("sandbox", "SANDBOX_LISTEN", SANDBOX_API_KEY="k") as (sandbox, port):
        # It said where it listens once it listens: it answers at once.
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/uploadposts/me", headers={"Authorization": "Apikey k"}
        )
        assert me.status_code == 200
        bearer = httpx.get(
            f"http://127.0.0.1:{port}/api/uploadposts/me", headers={"Authorization": "Bearer k"}
        )
        assert bearer.status_code == 401
        assert bearer.json() == {"success": False, "message": "Invalid or expired token"}
        sandbox.send_signal(signal.SIGTERM)
        assert sandbox.wait(timeout=15) == 0


SECRET = "hunter2-secret"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"host=db password={SECRET} colour=blue", "DATABASE_URL: not a PostgreSQL connection"),
        (f"postgresql://me:{SECRET}@127.0.0.1:1/db", "DATABASE_URL: cannot connect to PostgreSQL"),
    ],
)
@pytest.mark.parametrize("command", ["allocator", "migrate"])
def test_a_bad_database_url_stops_the_process_without_echoing_the_password(command, url, said):
    run = queuelabs(command, env={"DATABASE_URL": url})
    _, err = run.communicate(timeout=60)
    assert run.returncode != 0
    assert said in err
    assert "Traceback" not in err
    assert SECRET not in err


def postgres_serving(data_dir: Path) -> bool:
    return any(
        p.info["name"] == "postgres" and str(data_dir) in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["name", "cmdline"])
    )


def test_dev_runs_on_an_embedded_database_keeps_its_data_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "pgdata"

    def stop(dev: subprocess.Popen[str]) -> None:
        # A terminal's Ctrl-C under `uv run` arrives twice (uv passes its own on): the second
        # must not interrupt the first's clean stop.
        dev.send_signal(signal.SIGINT)
        time.sleep(0.1)  # real: a real process, its second Ctrl-C a moment after the first
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=60) == 0, dev_log(data_dir).read_text()[-3000:]

    dev, ports, banner = start_dev_serving(data_dir)
    try:
        assert f"127.0.0.1:{ports.allocator}" in banner
        assert f"127.0.0.1:{ports.uploader}" in banner
        assert "grpcurl -plaintext" in banner
        assert postgres_serving(data_dir)
        with grpc.insecure_channel(f"127.0.0.1:{ports.allocator}") as channel:
            stub = AllocatorStub(channel)
            schedule = stub.GetSchedule(
                pb.GetScheduleRequest(profile_id=str(DEMO_PROFILE_ID), platform=pb.PLATFORM_TIKTOK)
            )
            assert [s.local_time for s in schedule.slots][:2] == ["02:00", "06:00"]
            content = video()
            stub.AssignNext(
                pb.AssignNextRequest(
                    profile_id=str(DEMO_PROFILE_ID), platform=pb.PLATFORM_TIKTOK, content=content
                )
            )
        stop(dev)
    finally:
        if dev.poll() is None:
            dev.kill()
    assert not postgres_serving(data_dir)

    dev, ports, _ = start_dev_serving(data_dir)  # the data is still there
    try:
        with grpc.insecure_channel(f"127.0.0.1:{ports.allocator}") as channel:
            listed = AllocatorStub(channel).ListAssignments(
                pb.ListAssignmentsRequest(profile_id=str(DEMO_PROFILE_ID))
            )
        assert [a.content_id for a in listed.assignments] == [content.content_id]
        stop(dev)
    finally:
        if dev.poll() is None:
            dev.kill()
    assert not postgres_serving(data_dir)


def test_a_service_process_serves_prometheus_metrics(database_url):
    with service_process(
        "allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url, METRICS_LISTEN="127.0.0.1:0"
    ) as running:
        page = httpx.get(f"http://127.0.0.1:{running.metrics_port}/metrics")
        log = running.log.read_text()
    assert "AUTH_TOKENS is not set: every RPC is OPEN" in log  # said loudly at start
    assert page.status_code == 200
    assert "queuelabs_assignment_seconds" in page.text
    assert "queuelabs_assignment_lock_wait_seconds" in page.text


async def test_schedule_show_prints_the_coming_slots_with_contents_and_states(database_url):
    """`schedule show` asks the Allocator (GetCalendar): it reads no database itself."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from tests.support.calls import assign, make_profile

    async def shown(*args: str) -> tuple[int, str, str]:
        run = queuelabs("schedule", "show", *args, env={"DATABASE_URL": "postgresql://nowhere/x"})
        out, err = await asyncio.to_thread(run.communicate, timeout=60)
        return run.returncode, out, err

    with service_process("allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            allocator = AllocatorStub(channel)
            profile_id = await make_profile(allocator, name="ShowMe")
            soon = datetime.now(UTC) + timedelta(hours=1)
            first = await assign(allocator, profile_id, video(title="Morning news"), soon)
            second = await assign(allocator, profile_id, not_before=soon)
            await allocator.Release(pb.ReleaseRequest(content_id=second.content_id))
        where = ["--allocator", running.address]
        code, out, err = await shown(
            "--profile", profile_id, "--platform", "tiktok", "--days", "2", *where
        )
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == f"{profile_id} · tiktok · Asia/Jakarta · next 2 days"
        assert lines[1] == (
            "daily cap: 15 tiktok posts in any 24 hours (UPLOAD_POST_DAILY_CAP_TIKTOK)"
        )
        days = [line for line in lines if "· fullest 24 h from this day:" in line]
        assert days
        assert all(line.endswith(" of 15") for line in days)
        assert any(line.endswith(": 1 of 15") for line in days)  # the one scheduled content
        held = [line for line in lines if first.content_id in line]
        assert len(held) == 1
        assert "scheduled" in held[0]
        assert '"Morning news"' in held[0]
        assert not any(second.content_id in line for line in lines)  # released: its slot is free
        assert sum(" free " in line for line in lines) == 11  # 2 days of 6 slots, one taken
        code, _, err = await shown(
            "--profile", "7e57a000-0000-4000-8000-000000000000", "--platform", "tiktok", *where
        )
        assert code == 1
        assert "NOT_FOUND: no profile 7e57a000-0000-4000-8000-000000000000" in err
        code, _, err = await shown("--profile", "ShowMe", "--platform", "tiktok", *where)
        assert code == 1
        assert "--profile: 'ShowMe' is not a profile id (a UUID)" in err


def test_a_taken_listen_address_stops_the_process_with_a_clear_message(database_url):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        run = queuelabs(
            "allocator",
            env={
                "DATABASE_URL": database_url,
                "ALLOCATOR_LISTEN": address,
                "METRICS_LISTEN": "off",
            },
        )
        _, err = run.communicate(timeout=60)
    assert run.returncode != 0
    assert f"ALLOCATOR_LISTEN {address}: cannot listen there" in err, err
    assert "Traceback" not in err


def test_a_second_server_on_a_running_ones_port_stops_instead_of_sharing_it(database_url):
    """gRPC sets SO_REUSEPORT by default, which let a second server start on a taken port and
    take half its calls; a second replica started by mistake on the same address now stops."""
    with service_process("allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url) as first:
        second = queuelabs(
            "allocator",
            env={"DATABASE_URL": database_url, "ALLOCATOR_LISTEN": first.address},
        )
        _, err = second.communicate(timeout=60)
        uploader = queuelabs(
            "uploader",
            env={
                "DATABASE_URL": database_url,
                "UPLOADER_LISTEN": first.address,
                "ALLOCATOR_ADDR": first.address,
                "UPLOAD_POST_API_KEY": "k",
            },
        )
        _, uploader_err = uploader.communicate(timeout=60)
        assert first.process.poll() is None  # the first one serves on
    assert second.returncode != 0
    assert f"ALLOCATOR_LISTEN {first.address}: cannot listen there" in err, err
    assert uploader.returncode != 0
    assert f"UPLOADER_LISTEN {first.address}: cannot listen there" in uploader_err, uploader_err


def test_a_taken_metrics_address_is_named_after_the_database_is_checked(database_url):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = f"127.0.0.1:{taken.getsockname()[1]}"
        run = queuelabs(
            "allocator",
            env={
                "DATABASE_URL": database_url,
                "ALLOCATOR_LISTEN": "127.0.0.1:0",
                "METRICS_LISTEN": metrics,
            },
        )
        _, err = run.communicate(timeout=60)
        unreachable = queuelabs(
            "allocator",
            env={
                "DATABASE_URL": "postgresql://me@127.0.0.1:1/db",
                "ALLOCATOR_LISTEN": "127.0.0.1:0",
                "METRICS_LISTEN": metrics,
            },
        )
        _, unreachable_err = unreachable.communicate(timeout=60)
    assert run.returncode != 0
    assert f"METRICS_LISTEN {metrics}: Address already in use" in err, err
    assert "Traceback" not in err
    # The database is checked first: a replica with both wrong says the database.
    assert "DATABASE_URL: cannot connect to PostgreSQL" in unreachable_err, unreachable_err


def test_dev_takes_its_ports_from_its_flags_else_from_the_services_settings():
    from commands.dev import DevPorts
    from queuelabs.env import ConfigError, Env

    assert DevPorts.chosen(Env({})) == DevPorts(50051, 50052, 50053, 9100)
    settings = Env(
        {
            "ALLOCATOR_LISTEN": "0.0.0.0:6001",
            "UPLOADER_LISTEN": "127.0.0.1:6002",
            "SANDBOX_LISTEN": "127.0.0.1:6003",
            "METRICS_LISTEN": "0.0.0.0:6004",
        }
    )
    assert DevPorts.chosen(settings) == DevPorts(6001, 6002, 6003, 6004)
    assert DevPorts.chosen(settings, allocator=7001, metrics=7004) == DevPorts(
        7001, 6002, 6003, 7004
    )
    assert DevPorts.chosen(Env({"METRICS_LISTEN": "off"})).metrics is None
    with pytest.raises(ConfigError, match="UPLOADER_LISTEN: 'nowhere' is not HOST:PORT"):
        DevPorts.chosen(Env({"UPLOADER_LISTEN": "nowhere"}))


def test_version_names_the_installed_release():
    run = queuelabs("--version")
    out, _ = run.communicate(timeout=60)
    assert run.returncode == 0
    assert out.strip() == f"queuelabs {importlib.metadata.version('queuelabs')}"


def test_health_says_whether_a_service_serves_as_a_container_health_check_asks(database_url):
    with service_process("allocator", "ALLOCATOR_LISTEN", DATABASE_URL=database_url) as running:
        # As the image's HEALTHCHECK runs it: the port from the service's own setting.
        by_setting = queuelabs(
            "health", env={"ALLOCATOR_LISTEN": f"0.0.0.0:{running.address.rpartition(':')[2]}"}
        )
        out, _ = by_setting.communicate(timeout=60)
        assert by_setting.returncode == 0, out
        assert out.strip() == f"{running.address}: SERVING"
    with unanswered_address() as nobody:
        away = queuelabs("health", "--address", nobody, "--timeout", "1")
        out, _ = away.communicate(timeout=60)
    assert away.returncode == 1
    assert out.strip() == f"{nobody}: UNAVAILABLE"
    unknown = queuelabs("health", env={"ALLOCATOR_LISTEN": "", "UPLOADER_LISTEN": ""})
    _, err = unknown.communicate(timeout=60)
    assert unknown.returncode != 0
    assert "--address: not given" in err
