"""A local stand-in for the Upload-Post API, faults included, for tests and `queuelabs dev`.

It speaks the endpoints the Uploader uses with the real API's shapes (shared/upload-post-api.md):
the three posting endpoints (multipart), async jobs and their status, the history, `me`;
`Authorization: Apikey`, `Idempotency-Key` deduplication and the rate-limit headers. Faults are
scripted per platform through /_sandbox/ control endpoints, and every publication is recorded so
a test can count them.

Fault names, consumed one per upload request for that platform, in order:
  ok, 504_after (published, then a 504), 504_before, 500, 502, 503, 429:<seconds>,
  slow:<seconds> (published, answered that much later), drop_after (published, connection cut),
  drop_before, 400, 401, 403, 404, partial (a 200 whose platform result failed),
  async_fail (an async job that ends failed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

PLATFORMS = {"tiktok", "instagram", "youtube", "facebook", "linkedin", "x", "threads", "pinterest"}
_MEDIA_FIELD = {"/api/upload": "video", "/api/upload_photos": "photos[]", "/api/upload_text": None}
RATE_LIMIT = 100


@dataclass
class Job:
    request_id: str
    idempotency_key: str
    user: str
    platform: str
    title: str
    status: str = "in_progress"  # in_progress, completed, failed
    success: bool | None = None
    post_url: str = ""
    post_id: str = ""
    error: str = ""
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Publication:
    request_id: str
    idempotency_key: str
    user: str
    platform: str
    title: str
    published_at: float


@dataclass
class SandboxState:
    api_key: str
    dedupe: bool = True
    async_seconds: float = 1.0
    faults: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    jobs: dict[str, Job] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    publications: list[Publication] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, job: Job) -> None:
        job.status, job.success = "completed", True
        job.post_id = uuid.uuid4().hex[:12]
        job.post_url = f"https://www.{job.platform}.com/p/{job.post_id}"
        self.publications.append(
            Publication(
                job.request_id, job.idempotency_key, job.user, job.platform, job.title, time.time()
            )
        )

    def fail(self, job: Job, reason: str) -> None:
        job.status, job.success, job.error = "failed", False, reason


def _headers() -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(RATE_LIMIT),
        "X-RateLimit-Remaining": str(RATE_LIMIT - 1),
        "X-RateLimit-Reset": str(int(time.time()) + 60),
    }


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers={**_headers(), **headers})


def _sync_body(job: Job) -> dict[str, Any]:
    result: dict[str, Any] = {"success": bool(job.success)}
    if job.success:
        result.update(url=job.post_url, post_id=job.post_id)
    else:
        result["error"] = job.error
    return {"success": True, "results": {job.platform: result}, "usage": {"count": 1, "limit": 100}}


def _async_body(job: Job) -> dict[str, Any]:
    return {
        "success": True,
        "message": "Upload initiated successfully in background.",
        "request_id": job.request_id,
        "total_platforms": 1,
    }


def _drop(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()  # the connection dies with no answer
    return web.Response(status=499)  # never reaches the client


def build_app(state: SandboxState) -> web.Application:
    app = web.Application()
    pending: set[asyncio.Task[None]] = set()

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Apikey {state.api_key}"

    async def upload(request: web.Request) -> web.Response:
        if not authorized(request):
            return _json({"success": False, "message": "Invalid or expired token"}, 401)
        form = await request.post()
        user = str(form.get("user", ""))
        platforms = [str(p) for p in form.getall("platform[]", [])]
        media_field = _MEDIA_FIELD[request.path]
        state.requests.append(
            {
                "path": request.path,
                "form": {k: str(v) for k, v in form.items()},
                "headers": dict(request.headers),
            }
        )
        if not user:
            return _json({"success": False, "message": "Username required in form data"}, 400)
        if not platforms or not set(platforms) <= PLATFORMS:
            return _json({"success": False, "message": f"Invalid platform(s): {platforms}"}, 400)
        if media_field and not form.get(media_field):
            return _json({"success": False, "message": f"{media_field} is required"}, 400)
        if media_field is None and not form.get("title"):
            return _json({"success": False, "message": "title is required"}, 400)

        platform = platforms[0]
        fault = state.faults[platform].popleft() if state.faults[platform] else "ok"
        kind, _, argument = fault.partition(":")
        if kind in {"400", "401", "403", "404", "500", "502", "503", "504_before"}:
            code = int(kind.split("_")[0])
            return _json({"success": False, "message": f"sandbox fault {fault}"}, code)
        if kind == "429":
            return _json(
                {"success": False, "message": "Too many requests"},
                429,
                **{"Retry-After": argument or "2"},
            )
        if kind == "drop_before":
            return _drop(request)

        key = (
            request.headers.get("Idempotency-Key")
            or request.headers.get("X-Idempotency-Key")
            or request.headers.get("X-Request-Id")
            or ""
        )
        is_async = str(form.get("async_upload", "false")).lower() == "true"
        if state.dedupe and key and key in state.by_key:
            job = state.jobs[state.by_key[key]]  # the same job again: nothing new is published
        else:
            request_id = str(
                form.get("request_id") or request.headers.get("X-Request-Id") or uuid.uuid4()
            )
            job = Job(request_id, key, user, platform, str(form.get("title", "")))
            state.jobs[request_id] = job
            if key:
                state.by_key[key] = request_id
            if is_async:
                task = asyncio.create_task(_finish_later(state, job, fail=kind == "async_fail"))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif kind == "partial":
                state.fail(job, "sandbox fault partial: the platform refused the post")
            else:
                state.publish(job)

        if kind == "504_after":
            return web.Response(
                status=504,
                text="<html><body><h1>504 Gateway Time-out</h1>",
                content_type="text/html",
                headers=_headers(),
            )
        if kind == "drop_after":
            return _drop(request)
        if kind == "slow":
            await asyncio.sleep(float(argument or 5))
        if job.status == "in_progress":
            return _json(_async_body(job))
        return _json(_sync_body(job))

    async def status(request: web.Request) -> web.Response:
        if not authorized(request):
            return _json({"success": False, "message": "Invalid or expired token"}, 401)
        job = state.jobs.get(request.query.get("request_id", ""))
        if job is None:
            return _json({"success": False, "status": "not_found"}, 404)
        done = job.status != "in_progress"
        return _json(
            {
                "request_id": job.request_id,
                "status": job.status if done else "in_progress",
                "completed": 1 if done else 0,
                "total": 1,
                "results": [
                    {
                        "platform": job.platform,
                        "success": bool(job.success) if done else False,
                        "status": job.status if done else "in_progress",
                        "post_url": job.post_url or None,
                        "platform_post_id": job.post_id or None,
                        "error_message": job.error or None,
                    }
                ],
                "last_update": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )

    async def history(request: web.Request) -> web.Response:
        if not authorized(request):
            return _json({"success": False, "message": "Invalid or expired token"}, 401)
        wanted = request.query.get("request_id")
        platform = request.query.get("platform")
        items = [
            {
                "request_id": j.request_id,
                "platform": j.platform,
                "success": bool(j.success),
                "post_url": j.post_url or None,
                "error_message": j.error or None,
                "profile_username": j.user,
                "upload_timestamp": j.created_at,
            }
            for j in state.jobs.values()
            if j.status != "in_progress"
            and (not wanted or j.request_id == wanted)
            and (not platform or j.platform == platform)
        ]
        return _json(
            {"success": True, "history": items, "page": 1, "limit": 50, "total": len(items)}
        )

    async def me(request: web.Request) -> web.Response:
        if not authorized(request):
            return _json({"success": False, "message": "Invalid or expired token"}, 401)
        return _json({"success": True, "email": "sandbox@localhost", "plan": "sandbox"})

    async def set_faults(request: web.Request) -> web.Response:
        body = await request.json()
        state.faults[body["platform"]].extend(body["faults"])
        return web.json_response({"queued": list(state.faults[body["platform"]])})

    async def settings(request: web.Request) -> web.Response:
        body = await request.json()
        state.dedupe = bool(body.get("dedupe", state.dedupe))
        state.async_seconds = float(body.get("async_seconds", state.async_seconds))
        return web.json_response({"dedupe": state.dedupe, "async_seconds": state.async_seconds})

    async def publications(request: web.Request) -> web.Response:
        return web.json_response({"publications": [asdict(p) for p in state.publications]})

    for path in _MEDIA_FIELD:
        app.router.add_post(path, upload)
    app.router.add_get("/api/uploadposts/status", status)
    app.router.add_get("/api/uploadposts/history", history)
    app.router.add_get("/api/uploadposts/me", me)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/settings", settings)
    app.router.add_get("/_sandbox/publications", publications)
    return app


async def _finish_later(state: SandboxState, job: Job, *, fail: bool) -> None:
    await asyncio.sleep(state.async_seconds)
    if fail:
        state.fail(job, "sandbox fault async_fail: the platform refused the post")
    else:
        state.publish(job)


@dataclass
class RunningSandbox:
    runner: web.AppRunner
    state: SandboxState
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(
    host: str, port: int, api_key: str, async_seconds: float = 1.0
) -> RunningSandbox:
    state = SandboxState(api_key=api_key, async_seconds=async_seconds)
    runner = web.AppRunner(build_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return RunningSandbox(runner, state, int(bound))
