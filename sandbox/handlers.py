"""One handler per endpoint: the three posting endpoints, status, history and `me` with the real
API's shapes (`Authorization: Apikey`, rate-limit headers on every answer; a posting form checked
as the real API checks it, sandbox/forms.py), and the sandbox's own control endpoints under
/_sandbox/ (faults, settings, publications, received forms; loopback use only). The
notification and account endpoints are in sandbox/notification_handlers.py."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from sandbox import forms
from sandbox.deliveries import DeliveryFaults
from sandbox.faults import Answer, Before, JobEnd, RandomFaults, Scripted
from sandbox.limits import Verdict
from sandbox.state import Job, Logged, Received, SandboxState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What the access record keeps of a request: the Idempotency-Key it concerns, the fault it met.
KEY = web.RequestKey("key", str)
FAULT = web.RequestKey("fault", str)

# The posting endpoints and the form field that carries their media (text has none).
MEDIA_FIELD = {"/api/upload": "video", "/api/upload_photos": "photos[]", "/api/upload_text": None}
MEDIA_TYPE = {"/api/upload": "video", "/api/upload_photos": "photo", "/api/upload_text": "text"}


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _too_many(verdict: Verdict) -> web.Response:
    return _json(verdict.body, 429, **{"Retry-After": str(max(1, math.ceil(verdict.retry_after)))})


def refused(message: str, status: int, **headers: str) -> web.Response:
    """The real API's shape of a refusal."""
    return _json({"success": False, "message": message}, status, **headers)


def authorized(request: web.Request, api_key: str) -> bool:
    return request.headers.get("Authorization", "") == f"Apikey {api_key}"


def _drop(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()  # the connection dies with no answer
    return web.Response(status=499)  # never reaches the client


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


class Handlers:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._pending: set[asyncio.Task[None]] = set()

    def _authorized(self, request: web.Request) -> bool:
        return authorized(request, self.state.api_key)

    @web.middleware
    async def metered(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every request to the API counts against the plan's rate and carries the rate-limit
        headers; one over the rate gets a 429. The sandbox's record keeps each."""
        if not request.path.startswith("/api/"):
            return await handler(request)
        verdict = self.state.meter.take_request()
        response = _too_many(verdict) if verdict else await handler(request)
        response.headers.update(self.state.meter.headers())
        self.state.log.append(
            Logged(
                time.time(),
                request.method,
                request.path,
                response.status,
                key=request.get(KEY, ""),
                fault=request.get(FAULT, ""),
            )
        )
        return response

    async def upload(self, request: web.Request) -> web.Response:
        """POST /api/upload, /api/upload_photos, /api/upload_text. Each form is kept as it came
        (its fields in order) with the status it was answered, for tests to read."""
        if not self._authorized(request):
            return refused("Invalid or expired token", 401)
        form = await request.post()
        fields = [(name, str(value)) for name, value in form.items()]
        received = Received(request.path, fields)
        self.state.received.append(received)
        self.state.requests.append(
            {
                "path": request.path,
                "form": {k: str(v) for k, v in form.items()},
                "headers": dict(request.headers),
            }
        )
        response = await self._upload(request, form, fields)
        received.status = response.status
        return response

    async def _upload(
        self, request: web.Request, form: Any, fields: list[tuple[str, str]]
    ) -> web.Response:
        try:
            forms.check(request.path, fields)
        except forms.FormError as bad:
            return refused(str(bad), 400)
        user = str(form.get("user", ""))
        platforms = [str(p) for p in form.getall("platform[]", [])]
        if forms.scheduling(fields):
            # Upload-Post's own scheduler takes it: it would be posted later, not now.
            return _json(self.state.schedule(user, platforms, fields), 202)

        key = (
            request.headers.get("Idempotency-Key")
            or request.headers.get("X-Idempotency-Key")
            or request.headers.get("X-Request-Id")
            or ""
        )
        request[KEY] = key
        platform = platforms[0]
        over = self.state.meter.take_post(user, platform)
        if over is not None:
            return _too_many(over)
        await self.state.released.wait()  # held: unanswered until released
        if self.state.upload_seconds:
            await asyncio.sleep(self.state.upload_seconds)
        scripted = self.state.next_fault(platform)
        fault = scripted.fault
        if scripted.name != "ok":
            request[FAULT] = scripted.name
        if fault.before is Before.REFUSE:
            extra = {"Retry-After": scripted.argument or "2"} if fault.status == 429 else {}
            message = (
                "Too many requests" if fault.status == 429 else f"sandbox fault {scripted.name}"
            )
            return refused(message, fault.status, **extra)
        if fault.before is Before.DROP:
            return _drop(request)

        job = self.state.earlier_job(key)  # the same job again: nothing new is published
        if job is None:
            request_id = form.get("request_id") or request.headers.get("X-Request-Id")
            job = self.state.new_job(
                key,
                str(request_id) if request_id else None,
                user,
                platform,
                str(form.get("title", "")),
                media_type=MEDIA_TYPE[request.path],
                caption=str(form.get("description", "")),
            )
            self._run(
                job, scripted, asynchronous=str(form.get("async_upload", "false")).lower() == "true"
            )
            if fault.status_unreadable:
                job.unreadable_reads = int(float(scripted.argument or 2))
            job.status_missing = fault.status_missing

        # The answer is what the job was when the API answered; a slow answer is late on the
        # way back (an async job finished meanwhile is still answered "initiated").
        body = _sync_body(job) if job.done else _async_body(job)
        match fault.answer:
            case Answer.GATEWAY_TIMEOUT:
                return web.Response(
                    status=504,
                    text="<html><body><h1>504 Gateway Time-out</h1>",
                    content_type="text/html",
                )
            case Answer.DROP:
                return _drop(request)
            case Answer.LATE:
                await asyncio.sleep(float(scripted.argument or 5))
        return _json(body)

    def _run(self, job: Job, scripted: Scripted, *, asynchronous: bool) -> None:
        """Ends the job now, or (async mode) after `async_seconds`."""
        if asynchronous:
            task = asyncio.create_task(self._finish_later(job, scripted))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        else:
            self._finish(
                job, scripted, platform_refuses=scripted.fault.job is JobEnd.PLATFORM_REFUSED
            )

    async def _finish_later(self, job: Job, scripted: Scripted) -> None:
        await asyncio.sleep(self.state.async_seconds)
        self._finish(job, scripted, platform_refuses=scripted.fault.job is not JobEnd.PUBLISHED)

    def _finish(self, job: Job, scripted: Scripted, *, platform_refuses: bool) -> None:
        """Publishes the job, unless its account is not connected (the platform refuses the
        token, as the real API reports it) or the fault has the platform refuse the post."""
        dead_account = self.state.accounts.refusal(job.user, job.platform)
        if dead_account:
            self.state.fail(job, dead_account)
        elif not platform_refuses:
            self.state.publish(job)
        else:
            self.state.fail(job, f"sandbox fault {scripted.name}: the platform refused the post")

    async def status(self, request: web.Request) -> web.Response:
        """GET /api/uploadposts/status?request_id=... (or job_id=..., the same id)."""
        if not self._authorized(request):
            return refused("Invalid or expired token", 401)
        job_id = request.query.get("request_id") or request.query.get("job_id", "")
        job = self.state.jobs.get(job_id)
        if job is None or job.status_missing:
            return _json({"success": False, "status": "not_found"}, 404)
        request[KEY] = job.idempotency_key
        if self.state.status_unreadable(job):
            request[FAULT] = "status_unreadable"
            # A body cut off mid-way, as a proxy that gives up on a slow backend sends it.
            return web.Response(
                text=f'{{"request_id": "{job.request_id}", "status": "comp',
                content_type="application/json",
            )
        return _json(
            {
                "request_id": job.request_id,
                "status": job.status,
                "completed": 1 if job.done else 0,
                "total": 1,
                "results": [
                    {
                        "platform": job.platform,
                        "success": bool(job.success) if job.done else False,
                        "status": job.status,
                        "post_url": job.post_url or None,
                        "platform_post_id": job.post_id or None,
                        "error_message": job.error or None,
                    }
                ],
                "last_update": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )

    async def history(self, request: web.Request) -> web.Response:
        """GET /api/uploadposts/history (filters request_id, platform)."""
        if not self._authorized(request):
            return refused("Invalid or expired token", 401)
        wanted = request.query.get("request_id")
        platform = request.query.get("platform")
        jobs = (
            ([self.state.jobs[wanted]] if wanted in self.state.jobs else [])
            if wanted
            else list(self.state.jobs.values())
        )
        items = [
            {
                "request_id": j.request_id,
                "platform": j.platform,
                "success": bool(j.success),
                "post_url": j.post_url or None,
                "platform_post_id": j.post_id or None,
                "error_message": j.error or None,
                "profile_username": j.user,
                "upload_timestamp": j.created_at,
            }
            for j in jobs
            if j.done and (not platform or j.platform == platform)
        ]
        return _json(
            {"success": True, "history": items, "page": 1, "limit": 50, "total": len(items)}
        )

    async def me(self, request: web.Request) -> web.Response:
        """GET /api/uploadposts/me: checks a key."""
        if not self._authorized(request):
            return refused("Invalid or expired token", 401)
        return _json({"success": True, "email": "sandbox@localhost", "plan": "sandbox"})

    async def queue_faults(self, request: web.Request) -> web.Response:
        """POST /_sandbox/faults {"platform": ..., "faults": [...]}."""
        body = await request.json()
        try:
            self.state.queue_faults(str(body["platform"]), *(str(f) for f in body["faults"]))
        except (KeyError, TypeError, ValueError) as bad:
            return web.json_response({"error": str(bad)}, status=400)
        return web.json_response({"queued": [s.name for s in self.state.faults[body["platform"]]]})

    async def settings(self, request: web.Request) -> web.Response:
        """POST /_sandbox/settings {"dedupe": bool, "async_seconds": float, "fault_rate": float,
        "fault_mix": [fault, ...], "fault_seed": int, "hold": bool, "notifications": {...}}.
        While `hold` is true, posting requests wait unanswered (each as if the network stalled)
        until it is false. `notifications` sets the delivery faults (sandbox/deliveries.py)."""
        body = await request.json()
        if not isinstance(body.get("hold", False), bool):
            return web.json_response({"error": "hold must be true or false"}, status=400)
        try:
            delivery_faults = (
                DeliveryFaults.parse(body["notifications"]) if "notifications" in body else None
            )
            if "fault_rate" in body:
                self.state.random_faults = RandomFaults.parse(
                    float(body["fault_rate"]),
                    [str(name) for name in body.get("fault_mix", [])],
                    int(body.get("fault_seed", 0)),
                )
        except (TypeError, ValueError) as bad:
            return web.json_response({"error": str(bad)}, status=400)
        if delivery_faults is not None:
            self.state.sender.set_faults(delivery_faults)
        self.state.dedupe = bool(body.get("dedupe", self.state.dedupe))
        self.state.async_seconds = float(body.get("async_seconds", self.state.async_seconds))
        if "hold" in body:
            if body["hold"]:
                self.state.released.clear()
            else:
                self.state.released.set()
        faults = self.state.random_faults
        return web.json_response(
            {
                "dedupe": self.state.dedupe,
                "async_seconds": self.state.async_seconds,
                "fault_rate": faults.rate,
                "fault_mix": [s.name for s in faults.mix],
                "fault_seed": faults.seed,
                "hold": not self.state.released.is_set(),
                "notifications": asdict(self.state.sender.faults),
            }
        )

    async def log(self, request: web.Request) -> web.Response:
        """GET /_sandbox/log: every request to the API (when, method, path, status, key, fault),
        in order."""
        return web.json_response({"requests": [asdict(entry) for entry in self.state.log]})

    async def received(self, request: web.Request) -> web.Response:
        """GET /_sandbox/received: every posting form as it came, in order: its path, its fields
        in order (`[name, value]`, a list field once per item), the status it was answered, and
        how many forms asked Upload-Post's own scheduler to post later (`scheduled`). No header
        is kept: the API key stays out."""
        return web.json_response(
            {
                "forms": [asdict(r) for r in self.state.received],
                "scheduled": len(self.state.scheduled),
            }
        )

    async def publications(self, request: web.Request) -> web.Response:
        """GET /_sandbox/publications: every post published, to count them."""
        return web.json_response({"publications": [asdict(p) for p in self.state.publications]})
