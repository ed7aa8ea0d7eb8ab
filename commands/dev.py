"""`queuelabs dev`: the whole system on one machine, listening on 127.0.0.1 only.

Uses DATABASE_URL when set, else an embedded PostgreSQL whose data stays in one folder between
runs; applies migrations; serves the Allocator and the Uploader; runs the Upload-Post sandbox
unless UPLOAD_POST_API_KEY is set, and then hears its webhooks on a loopback port of their own,
registered with it under a secret made for the run; creates the demo profile "InfoKetua"; prints
grpcurl commands that work as pasted; stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from allocator.server import start_allocator
from allocator.settings import AllocatorSettings
from commands.serving import until_signalled
from commands.upload_post_webhook import register, webhook_url
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.database import EmbeddedPostgres, migrate
from queuelabs.env import Env
from queuelabs.metrics import serve_metrics
from queuelabs.security import Security, call_metadata, client_channel
from sandbox.server import start_sandbox
from sandbox.settings import limits_from_env
from uploader.notices.receiver import PATH
from uploader.server import RunningUploader, start_uploader
from uploader.settings import REAL_UPLOAD_POST, UploaderSettings

log = logging.getLogger(__name__)

DEMO_PROFILE_ID = UUID("00000000-0000-4000-8000-000000000001")
DEMO_SLOTS_WIB = ["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"]
SANDBOX_KEY = "sandbox"


@dataclass(frozen=True)
class DevPorts:
    """The loopback ports `dev` serves on; metrics None: off."""

    allocator: int = 50051
    uploader: int = 50052
    sandbox: int = 50053
    metrics: int | None = 9100  # one /metrics for both services: they share this process

    @classmethod
    def chosen(
        cls,
        env: Env,
        *,
        allocator: int | None = None,
        uploader: int | None = None,
        sandbox: int | None = None,
        metrics: int | None = None,
    ) -> DevPorts:
        """Each port from its flag, else from the port of the service's own setting
        (ALLOCATOR_LISTEN, UPLOADER_LISTEN, SANDBOX_LISTEN, METRICS_LISTEN, `off` included),
        else the default. `dev` serves on 127.0.0.1 whatever host a setting names."""

        def port(flag: int | None, variable: str, default: int) -> int:
            if flag is not None:
                return flag
            return int(env.listen(variable, f"127.0.0.1:{default}").rpartition(":")[2])

        metrics_off = metrics is None and (env.text("METRICS_LISTEN") or "").lower() == "off"
        return cls(
            port(allocator, "ALLOCATOR_LISTEN", cls.allocator),
            port(uploader, "UPLOADER_LISTEN", cls.uploader),
            port(sandbox, "SANDBOX_LISTEN", cls.sandbox),
            None if metrics_off else port(metrics, "METRICS_LISTEN", 9100),
        )


async def run_dev(env: Env, data_dir: Path, ports: DevPorts) -> int:
    embedded: EmbeddedPostgres | None = None
    database_url = env.database_url()
    if database_url is None:
        embedded = EmbeddedPostgres(data_dir)
        database_url = embedded.start()
        log.info("embedded PostgreSQL running, data in %s", embedded.data_dir)
    try:
        migrate(database_url)
        if ports.metrics is not None:
            metrics = f"127.0.0.1:{ports.metrics}"
            try:
                serve_metrics(metrics)
            except OSError as failed:
                raise OSError(
                    f"METRICS_LISTEN (or --metrics-port) {metrics}: {failed.strerror or failed}"
                ) from None
        async with AsyncExitStack() as running:
            allocator_settings = AllocatorSettings.from_env(
                env, database_url=database_url, listen=f"127.0.0.1:{ports.allocator}"
            )
            allocator = await start_allocator(allocator_settings)
            running.push_async_callback(allocator.stop, allocator_settings.shutdown_grace)
            await _create_demo_profile(f"127.0.0.1:{allocator.port}", allocator_settings.security)

            api_key = env.text("UPLOAD_POST_API_KEY")
            hearing = {}
            if api_key is None:
                sandbox = await start_sandbox(
                    "127.0.0.1", ports.sandbox, SANDBOX_KEY, limits=limits_from_env(env)
                )
                running.push_async_callback(sandbox.stop)
                upload_post = (sandbox.base_url, SANDBOX_KEY)
                hearing = hearing_env()
            else:
                upload_post = (env.text("UPLOAD_POST_BASE_URL", REAL_UPLOAD_POST) or "", api_key)
            uploader_settings = UploaderSettings.from_env(
                uploader_env(env, hearing),
                database_url=database_url,
                listen=f"127.0.0.1:{ports.uploader}",
                allocator_addr=f"127.0.0.1:{allocator.port}",
                upload_post=upload_post,
            )
            uploader = await start_uploader(uploader_settings)
            running.push_async_callback(uploader.stop, uploader_settings.shutdown_grace)
            heard = await _hear_the_sandbox(uploader, uploader_settings, hearing, upload_post)

            print(_banner(ports, upload_post[0], embedded, database_url, heard), flush=True)
            await until_signalled()
            log.info("stopping")
    finally:
        if embedded is not None:
            embedded.stop()
            log.info("embedded PostgreSQL stopped")
    return 0


def uploader_env(env: Env, hearing: dict[str, str] | None = None) -> Env:
    """The Uploader's environment under `dev`: webhook receivers of a machine of one's own are
    on it (loopback, private addresses), so they are allowed unless the caller says otherwise;
    `hearing` (with the sandbox: where its webhooks are heard) over the caller's settings."""
    return Env({"WEBHOOKS_ALLOW_PRIVATE": "true", **env.values, **(hearing or {})})


def hearing_env() -> dict[str, str]:
    """With the sandbox, the Uploader hears its webhooks on a loopback port the system picks, under
    a secret of this run's own (it goes to the sandbox alone)."""
    return {
        "UPLOAD_POST_WEBHOOK_LISTEN": "127.0.0.1:0",
        "UPLOAD_POST_WEBHOOK_SECRET": secrets.token_urlsafe(32),
    }


async def _hear_the_sandbox(
    uploader: RunningUploader,
    settings: UploaderSettings,
    hearing: dict[str, str],
    upload_post: tuple[str, str],
) -> str | None:
    """Registers the Uploader's receiver with the sandbox, when `dev` runs both; where it hears,
    as the banner says it (the secret hidden), else None."""
    if not hearing or uploader.notices is None:
        return None
    public = f"http://127.0.0.1:{uploader.notices.port}"
    await register(*upload_post, webhook_url(public, settings.notices.secret))
    return f"{public}{PATH}/<secret>"


async def _create_demo_profile(allocator: str, security: Security) -> None:
    """Creates (or updates) the demo profile and its schedules through the Allocator's own API,
    as any caller would."""
    async with client_channel(allocator, security) as channel:
        stub = AllocatorStub(channel)
        metadata = call_metadata(security)
        await stub.UpsertProfile(
            pb.UpsertProfileRequest(
                profile_id=str(DEMO_PROFILE_ID),
                name="InfoKetua",
                upload_post_user="InfoKetua",
                timezone="Asia/Jakarta",
            ),
            metadata=metadata,
            timeout=10,
        )
        slots = [pb.Slot(local_time=at) for at in DEMO_SLOTS_WIB]
        for platform in (pb.PLATFORM_TIKTOK, pb.PLATFORM_INSTAGRAM):
            await stub.SetSchedule(
                pb.SetScheduleRequest(
                    profile_id=str(DEMO_PROFILE_ID), platform=platform, slots=slots
                ),
                metadata=metadata,
                timeout=10,
            )


def _banner(
    ports: DevPorts,
    upload_post: str,
    embedded: EmbeddedPostgres | None,
    database_url: str,
    heard: str | None = None,
) -> str:
    allocator = f"127.0.0.1:{ports.allocator}"
    uploader = f"127.0.0.1:{ports.uploader}"
    where = f"embedded, data in {embedded.data_dir}" if embedded else "from DATABASE_URL"
    psql = f"\n  psql '{database_url}'" if embedded else ""
    sandbox = " (the local sandbox)" if upload_post != REAL_UPLOAD_POST else ""
    metrics = f"http://127.0.0.1:{ports.metrics}/metrics" if ports.metrics else "off"
    hearing = f"\n  Webhooks in  {heard} (the sandbox's, registered with it)" if heard else ""
    profile = f'"profile_id": "{DEMO_PROFILE_ID}"'
    content = '"content_id": "\'$ID\'"'
    return f"""
QueueLabs dev stack is up.
  Allocator    {allocator}   (gRPC; reflection and health on)
  Uploader     {uploader}   (gRPC; its workers run inside)
  Upload-Post  {upload_post}{sandbox}{hearing}
  PostgreSQL   {where}{psql}
  Metrics      {metrics}
  Demo profile "InfoKetua" ({DEMO_PROFILE_ID}), TikTok and Instagram slots at
  {", ".join(DEMO_SLOTS_WIB)} Asia/Jakarta (WIB).

Try, in another terminal (assign a content, publish it now instead of at its slot, look):
  grpcurl -plaintext {allocator} list
  ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
  grpcurl -plaintext -d '{{{profile}, "platform": "PLATFORM_TIKTOK"}}' \\
    {allocator} queuelabs.allocator.v1.Allocator/GetSchedule
  grpcurl -plaintext -d '{{{profile}, "platform": "PLATFORM_TIKTOK",
    "content": {{{content}, "media_type": "MEDIA_TYPE_VIDEO",
    "media_url": "https://example.com/clip.mp4", "title": "Hello"}}}}' \\
    {allocator} queuelabs.allocator.v1.Allocator/AssignNext
  grpcurl -plaintext -d '{{{content}}}' {uploader} queuelabs.uploader.v1.Uploader/UploadNow
  sleep 2
  grpcurl -plaintext -d '{{{content}}}' {uploader} queuelabs.uploader.v1.Uploader/GetUpload

Ctrl-C stops everything.
"""
