"""The HTTP server that hears Upload-Post's webhooks (UPLOAD_POST_WEBHOOK_LISTEN).

Upload-Post signs nothing, so a delivery proves itself with the secret (UPLOAD_POST_WEBHOOK_SECRET)
in the registered URL's path, `POST /upload-post/webhooks/<secret>`, or in the header
`X-Upload-Post-Webhook-Secret` on `POST /upload-post/webhooks`; anything else is 401. A body over
64 KiB is 413, one that is not a JSON object 400, and an event we do not know 200 (a refusal
would only make a sender give up). The rest is kept (uploader/notices/hearing.py) and the
claimer woken when a content fell due. One log line and one count per delivery; no secret in
either, nor in aiohttp's access log, which is off."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from queuelabs import metrics
from queuelabs.clock import Clock
from uploader.domain import Notice
from uploader.notices.hearing import Heard, Outcome, heed
from uploader.notices.words import EVENTS, AccountWord, BadDelivery, Word, read_delivery
from uploader.settings import NoticeSettings
from uploader.storage import UploaderStore

log = logging.getLogger(__name__)

PATH = "/upload-post/webhooks"
SECRET_HEADER = "X-Upload-Post-Webhook-Secret"
MAX_BODY = 64 * 1024


class _TooLarge(Exception):
    pass


class NoticeReceiver:
    """The request handler: admits, reads, and hands each delivery on."""

    def __init__(
        self, secret: str, store: UploaderStore, clock: Clock, wake_claimer: Callable[[], None]
    ) -> None:
        self._secret = secret.encode()
        self._store = store
        self._clock = clock
        self._wake_claimer = wake_claimer

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY + 1)
        app.router.add_post(PATH, self.receive)
        app.router.add_post(PATH + "/{secret}", self.receive)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        if not self._admits(request):
            return _answer(request, "", Heard.REFUSED, 401, "no secret, or a wrong one")
        try:
            body = await _bounded_body(request)
        except _TooLarge:
            return _answer(request, "", Heard.TOO_LARGE, 413, f"the body is over {MAX_BODY} bytes")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict):
            return _answer(request, "", Heard.MALFORMED, 400, "the body must be a JSON object")
        event = payload.get("event")
        event = event[:64] if isinstance(event, str) else ""  # as logged: bounded
        now = self._clock.now()
        try:
            word = read_delivery(payload, now)
        except BadDelivery as bad:
            return _answer(request, event, Heard.MALFORMED, 400, str(bad))
        try:
            outcome = await heed(self._store, word, now)
        except Exception:
            log.exception("Upload-Post webhook %s %s: not kept", _label(event), _about(word))
            return _answer(request, event, Heard.FAILED, 503, "could not keep it now", logged=True)
        if outcome.made_due:
            self._wake_claimer()
        return _heard(request, event, word, outcome)

    def _admits(self, request: web.Request) -> bool:
        given = request.match_info.get("secret")
        if given is None:
            given = request.headers.get(SECRET_HEADER, "")
        # Constant time: how long a wrong guess takes says nothing of how close it came.
        return hmac.compare_digest(given.encode(), self._secret)


async def _bounded_body(request: web.Request) -> bytes:
    """The body, read no further than MAX_BODY (a sender may not say its length up front)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _TooLarge
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooLarge
    return bytes(body)


def _label(event: str) -> str:
    """The event as a metric label: one we know, else `other` (the label stays bounded)."""
    return event if event in EVENTS else "other"


def _about(word: Word) -> str:
    if isinstance(word, Notice):
        return f"job {word.job_id}"
    if isinstance(word, AccountWord):
        return f"account {word.upload_post_user} on {word.platform.value}"
    return f"({word.why})"


def _heard(request: web.Request, event: str, word: Word, outcome: Outcome) -> web.Response:
    context: dict[str, Any] = {}
    done = outcome.heard.value
    if outcome.content_id is not None:
        context["content_id"] = outcome.content_id
        done += f", content {outcome.content_id}"
    if isinstance(word, AccountWord):
        context["platform"] = word.platform.value
        done += f", {len(outcome.profiles)} profile(s)"
    log.info("Upload-Post webhook %r %s: %s", event, _about(word), done, extra=context)
    metrics.UPLOAD_POST_WEBHOOKS.labels(_label(event), outcome.heard.value).inc()
    return web.json_response({"outcome": outcome.heard.value})


def _answer(
    request: web.Request, event: str, heard: Heard, status: int, why: str, logged: bool = False
) -> web.Response:
    """A delivery not kept: said once in the log (from where, never the path) and counted."""
    if not logged:
        log.warning(
            "Upload-Post webhook %s from %s: %s (%d %s)",
            _label(event),
            request.remote,
            heard.value,
            status,
            why,
        )
    metrics.UPLOAD_POST_WEBHOOKS.labels(_label(event), heard.value).inc()
    return web.json_response({"outcome": heard.value, "error": why}, status=status)


@dataclass
class RunningReceiver:
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_receiver(
    settings: NoticeSettings,
    store: UploaderStore,
    clock: Clock,
    wake_claimer: Callable[[], None],
) -> RunningReceiver | None:
    """Serves the receiver on `settings.listen`; None when it is off."""
    if settings.listen is None:
        return None
    receiver = NoticeReceiver(settings.secret, store, clock, wake_claimer)
    runner = web.AppRunner(receiver.app(), access_log=None, shutdown_timeout=5)
    await runner.setup()
    host, _, port = settings.listen.rpartition(":")
    try:
        await web.TCPSite(runner, host, int(port)).start()
    except OSError as failed:
        await runner.cleanup()
        raise OSError(
            f"UPLOAD_POST_WEBHOOK_LISTEN {settings.listen}: {failed.strerror or failed}"
        ) from None
    bound = next(address[1] for address in runner.addresses)
    # Not "listening on": that phrase is the gRPC server's line, which tools read the port from.
    log.info(
        "hearing Upload-Post's webhooks on %s (port %d) at POST %s/<secret>",
        settings.listen,
        bound,
        PATH,
    )
    return RunningReceiver(runner, bound)
