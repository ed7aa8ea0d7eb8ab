"""A webhook receiver on loopback (aiohttp, on a port the system picks), as a customer would
write one: it verifies each request with the `standardwebhooks` package and answers as the
test says, so that a test can fail deliveries (a 500, no answer before the sender's timeout, a
reset connection, 410 Gone) or hold them open."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class Reply(StrEnum):
    OK = "ok"  # 204
    ERROR = "error"  # 500
    NO_ANSWER = "no answer"  # holds the request until the receiver stops: the sender times out
    RESET = "reset"  # drops the connection without an answer
    GONE = "gone"  # 410
    HOLD = "hold"  # holds the request open until `release` is set, then 204


# How a receiver answers the `nth` (from 1) request carrying one webhook-id.
Script = Callable[[str, int], Reply]


def always(reply: Reply) -> Script:
    return lambda _event_id, _nth: reply


def a_third_fail() -> Script:
    """Every third webhook-id, in the order they first arrive, fails its first request, the
    fault going round a 500, no answer and a reset; every later request succeeds. The same
    pattern whatever the ids are, so a run meets each fault however the ids fall."""
    faults = (Reply.ERROR, Reply.NO_ANSWER, Reply.RESET)
    arrival: dict[str, int] = {}

    def reply(event_id: str, nth: int) -> Reply:
        if nth > 1:
            return Reply.OK
        place = arrival.setdefault(event_id, len(arrival))
        return Reply.OK if place % 3 != 2 else faults[(place // 3) % 3]

    return reply


@dataclass
class Received:
    event_id: str
    headers: dict[str, str]
    body: bytes
    payload: Any  # as standardwebhooks.verify returned it


@dataclass
class Receiver:
    url: str
    script: Script
    secrets: list[str] = field(default_factory=list)  # verifies with any of these
    # Off only for a test whose clock jumps hours: the package checks a webhook's timestamp
    # against the real time, and refuses one more than five minutes off.
    verifying: bool = True
    seen: Counter[str] = field(default_factory=Counter)  # requests per webhook-id
    replies: list[tuple[str, Reply]] = field(default_factory=list)
    answered: dict[str, Received] = field(default_factory=dict)  # 2xx, by webhook-id
    unverified: list[str] = field(default_factory=list)  # why each bad request failed
    held: int = 0  # requests held open now by Reply.HOLD (until `release`)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def verify(self, body: bytes, headers: dict[str, str]) -> Any:
        """The payload, verified with one of `secrets` (WebhookVerificationError if none)."""
        for secret in self.secrets:
            try:
                return Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
        raise WebhookVerificationError("no secret of this receiver verifies it")

    @property
    def failed(self) -> int:
        """Requests answered with a fault (a held one is not a fault)."""
        return sum(1 for _, reply in self.replies if reply not in (Reply.OK, Reply.HOLD))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        event_id = request.headers.get("webhook-id", "")
        self.seen[event_id] += 1
        try:
            payload = self.verify(body, headers) if self.verifying else json.loads(body)
        except WebhookVerificationError as bad:
            self.unverified.append(f"{event_id}: {bad}")
            return web.Response(status=400)
        reply = self.script(event_id, self.seen[event_id])
        self.replies.append((event_id, reply))
        if reply is Reply.ERROR:
            return web.Response(status=500)
        if reply is Reply.GONE:
            return web.Response(status=410)
        if reply is Reply.RESET:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=204)  # never written: the connection is gone
        if reply is Reply.NO_ANSWER:
            await self.stopping.wait()
            return web.Response(status=204)  # to a sender that has long given up
        if reply is Reply.HOLD:
            self.held += 1
            try:
                await self.release.wait()
            finally:
                self.held -= 1
        self.answered.setdefault(event_id, Received(event_id, headers, body, payload))
        return web.Response(status=204)


@asynccontextmanager
async def receiving(script: Script | None = None) -> AsyncIterator[Receiver]:
    """A receiver on 127.0.0.1, on a port the system picks, answering as `script` says (every
    request well, by default); its `secrets` are for the test to set once the endpoint is
    created."""
    receiver = Receiver("", script or always(Reply.OK))
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    [port] = {address[1] for address in runner.addresses}
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        receiver.stopping.set()
        receiver.release.set()
        await runner.cleanup()


def data_of(received: Received) -> dict[str, Any]:
    """The delivered body's `data`, read from the bytes that were signed."""
    payload: dict[str, Any] = json.loads(received.body)
    data: dict[str, Any] = payload["data"]
    return data
