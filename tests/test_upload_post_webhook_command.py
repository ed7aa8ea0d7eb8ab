"""`queuelabs upload-post-webhook register|show` (commands/upload_post_webhook.py) against the
sandbox as its own process: what it registers, what it prints (never the webhook secret or the
API key), and how it fails (one line, exit 1). And `queuelabs dev`, which registers its own
receiver with its sandbox, so that the sandbox's webhooks reach the Uploader."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from aiohttp import web

from commands.dev import DEMO_PROFILE_ID, SANDBOX_KEY
from commands.upload_post_webhook import NotRegistered, register
from tests.support.processes import (
    QUEUELABS,
    part_on_any_port,
    start_dev_serving,
    unanswered_address,
)
from uploader.notices.words import EVENTS

KEY = "sandbox-key-of-this-test"
SECRET = "webhook-secret-of-this-test-0123456789"
PUBLIC = "https://hooks.example.com"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    """The sandbox as its own process; its base URL."""
    with part_on_any_port("sandbox", "SANDBOX_LISTEN", SANDBOX_API_KEY=KEY) as (_, port):
        yield f"http://127.0.0.1:{port}/api"


def webhook_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QUEUELABS, "upload-post-webhook", *args],
        env={**os.environ, "METRICS_LISTEN": "off", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def upload_post(base: str, key: str = KEY) -> dict[str, str]:
    return {
        "UPLOAD_POST_BASE_URL": base,
        "UPLOAD_POST_API_KEY": key,
        "UPLOAD_POST_WEBHOOK_SECRET": SECRET,
    }


def held_by(base: str, key: str = KEY) -> dict[str, object]:
    """What the sandbox has registered, asked as the command asks."""
    answer = httpx.get(
        f"{base}/uploadposts/users/notifications", headers={"Authorization": f"Apikey {key}"}
    )
    assert answer.status_code == 200, answer.text
    notifications: dict[str, object] = answer.json()["notifications"]
    return notifications


def test_register_tells_upload_post_the_receivers_url_and_prints_it_with_the_secret_hidden(
    sandbox,
):
    done = webhook_command("register", "--public-url", PUBLIC + "/", **upload_post(sandbox))
    assert done.returncode == 0, done.stderr
    assert held_by(sandbox) == {
        "channels": {"webhook": True, "telegram": False},
        "webhook_url": f"{PUBLIC}/upload-post/webhooks/{SECRET}",
        "webhook_events": dict.fromkeys(EVENTS, True),
    }
    assert done.stdout == (
        f"registered with Upload-Post ({sandbox}): webhook"
        f" {PUBLIC}/upload-post/webhooks/<secret>, channels webhook, events {', '.join(EVENTS)}\n"
    )
    assert SECRET not in done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr

    shown = webhook_command("show", **upload_post(sandbox))
    assert shown.returncode == 0, shown.stderr
    assert f"webhook {PUBLIC}/upload-post/webhooks/<secret>," in shown.stdout
    assert shown.stdout.rstrip().endswith("its secret is UPLOAD_POST_WEBHOOK_SECRET")
    other = webhook_command("show", **{**upload_post(sandbox), "UPLOAD_POST_WEBHOOK_SECRET": "x"})
    assert other.stdout.rstrip().endswith("its secret is not UPLOAD_POST_WEBHOOK_SECRET")
    assert SECRET not in shown.stdout + shown.stderr + other.stdout


def test_a_dry_run_prints_the_request_with_no_secret_and_sends_nothing(sandbox):
    before = held_by(sandbox)
    done = webhook_command(
        "register", "--public-url", "https://other.example.com", "--dry-run", **upload_post(sandbox)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"POST {sandbox}/uploadposts/users/notifications\n")
    assert "Authorization: Apikey <UPLOAD_POST_API_KEY>" in done.stdout
    assert '"webhook_url": "https://other.example.com/upload-post/webhooks/<secret>"' in done.stdout
    assert "(dry run: nothing sent)" in done.stdout
    assert SECRET not in done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr
    assert held_by(sandbox) == before


def test_a_refused_key_is_one_line_and_exit_1(sandbox):
    done = webhook_command(
        "register", "--public-url", PUBLIC, **upload_post(sandbox, key="not-the-key")
    )
    assert done.returncode == 1
    assert done.stderr == (
        "queuelabs upload-post-webhook register: Upload-Post answered 401: "
        "Invalid or expired token\n"
    )
    assert done.stdout == ""


def test_an_upload_post_out_of_reach_is_one_line_and_exit_1():
    with unanswered_address() as nobody:
        done = webhook_command("show", **upload_post(f"http://{nobody}/api"))
    assert done.returncode == 1
    assert done.stderr == (
        f"queuelabs upload-post-webhook show: cannot reach Upload-Post at http://{nobody}/api"
        " (ConnectError)\n"
    )


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (("--public-url", PUBLIC), {"UPLOAD_POST_WEBHOOK_SECRET": ""}, "SECRET: not set"),
        (("--public-url", PUBLIC), {"UPLOAD_POST_WEBHOOK_SECRET": "short"}, "at least 24"),
        (("--public-url", "hooks.example.com"), {}, "--public-url: 'hooks.example.com' is not"),
        (("--public-url", f"{PUBLIC}?a=b"), {}, "--public-url: give only"),
        (("--public-url", PUBLIC), {"UPLOAD_POST_API_KEY": ""}, "UPLOAD_POST_API_KEY: not set"),
    ],
)
def test_a_bad_setting_or_flag_stops_it_naming_which(sandbox, args, env, said):
    done = webhook_command("register", *args, **{**upload_post(sandbox), **env})
    assert done.returncode != 0
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stderr


def test_an_http_url_beyond_this_machine_is_warned_of(sandbox):
    done = webhook_command(
        "register", "--public-url", "http://hooks.example.com", "--dry-run", **upload_post(sandbox)
    )
    assert done.returncode == 0
    assert "warning: an http:// URL carries the secret in the clear" in done.stderr


async def test_an_answer_that_echoes_the_secret_or_the_key_is_printed_without_them():
    async def echo(request: web.Request) -> web.Response:
        body = await request.json()
        said = f"bad webhook_url {body['webhook_url']} for key {request.headers['Authorization']}"
        return web.json_response({"success": False, "message": said}, status=400)

    app = web.Application()
    app.router.add_post("/api/uploadposts/users/notifications", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    [port] = {address[1] for address in runner.addresses}
    try:
        with pytest.raises(NotRegistered) as refused:
            await register(
                f"http://127.0.0.1:{port}/api", KEY, f"{PUBLIC}/upload-post/webhooks/{SECRET}"
            )
    finally:
        await runner.cleanup()
    said = str(refused.value)
    assert said.startswith("Upload-Post answered 400: bad webhook_url")
    assert SECRET not in said
    assert KEY not in said
    assert said.count("<hidden>") == 2


# --- queuelabs dev ------------------------------------------------------------------------------

HEARD = re.compile(r"Webhooks in\s+http://127\.0\.0\.1:(\d+)/upload-post/webhooks/<secret>")


def test_dev_hears_its_sandbox_and_an_account_to_reconnect_is_marked(tmp_path):
    dev, ports, banner = start_dev_serving(tmp_path / "pgdata")
    try:
        said = HEARD.search(banner)
        assert said, banner
        sandbox = f"http://127.0.0.1:{ports.sandbox}/api"
        registered = held_by(sandbox, SANDBOX_KEY)
        url = registered["webhook_url"]
        assert isinstance(url, str)
        assert url.startswith(f"http://127.0.0.1:{said.group(1)}/upload-post/webhooks/")
        assert url.rsplit("/", 1)[1] not in banner  # the secret is the sandbox's and dev's alone

        changed = httpx.post(
            f"http://127.0.0.1:{ports.sandbox}/_sandbox/accounts",
            json={"user": "InfoKetua", "platform": "tiktok", "state": "reauth_required"},
        )
        assert changed.status_code == 200, changed.text
        [database_url] = re.findall(r"psql '([^']+)'", banner)
        assert marked(database_url) == [(DEMO_PROFILE_ID, "tiktok")]
    finally:
        dev.terminate()
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dev.kill()


def marked(database_url: str) -> list[tuple[object, ...]]:
    """The accounts marked to reconnect, once there are any (the sandbox delivers in the
    background, so this waits a bounded time)."""
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(database_url) as conn:
            found = conn.execute(
                "select profile_id, platform from accounts where reconnect_since is not null"
            ).fetchall()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)  # real: the sandbox's delivery reaches dev's receiver on its own time
