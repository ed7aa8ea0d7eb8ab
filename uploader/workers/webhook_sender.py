"""The webhook sender: claims due deliveries (FOR UPDATE SKIP LOCKED, with a lease; no endpoint
beyond its share in flight, so a slow or dead endpoint never holds up another's), signs and
sends each (Standard Webhooks), and writes the attempt and what follows in one transaction:
delivered (a 2xx), retried on the schedule (uploader/webhooks/policy.py), given up, or the
endpoint disabled (410 Gone, or a day of failures in a row) with a webhook.endpoint_disabled
event. A sender that dies between sending and writing leaves the row to fall due at its lease's
end, and the event goes again under the same webhook-id: at least once."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta

import httpx

from queuelabs.clock import Clock
from uploader.settings import WebhookSettings
from uploader.storage import Transaction, UploaderStore
from uploader.webhooks import signing
from uploader.webhooks.domain import Delivery
from uploader.webhooks.policy import (
    ATTEMPTS,
    GONE_REASON,
    Answer,
    Verdict,
    disable_reason,
    retry_delay,
)
from uploader.webhooks.targets import BadTarget, check_target

log = logging.getLogger(__name__)

# The shortest pause between turns, so due deliveries without room do not spin the sender.
_FLOOR = timedelta(seconds=0.05)


class WebhookSender:
    def __init__(
        self,
        store: UploaderStore,
        clock: Clock,
        worker: str,
        settings: WebhookSettings,
        draw: random.Random | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._worker = worker
        self._settings = settings
        self._draw = draw or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        # One client while deliveries are in flight, so a burst to one endpoint reuses its
        # connections; closed when the last delivery ends (a duty has no end of its own).
        self._client: httpx.AsyncClient | None = None
        self.woken = asyncio.Event()
        self.batch = settings.max_in_flight

    def wake(self) -> None:
        self.woken.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def send_due(self) -> list[Delivery]:
        """Claims what is due, as much as this process has room for, and starts each."""
        now = self._clock.now()
        room = self._settings.max_in_flight - len(self._tasks)
        async with self._store.transaction() as tx:
            due = await tx.next_webhook_due()
        if due is None or due > now or room <= 0:  # one query instead of a claim
            return []
        async with self._store.transaction() as tx:
            claimed = await tx.claim_webhook_deliveries(
                room,
                self._settings.per_endpoint,
                self._worker,
                now,
                now + self._settings.lease,
            )
        for delivery in claimed:
            task = asyncio.create_task(self._deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return claimed

    async def turn(self) -> timedelta | None:
        """One look at the deliveries owed; returns how long until the next falls due."""
        await self.send_due()
        async with self._store.transaction() as tx:
            due = await tx.next_webhook_due()
        now = self._clock.now()
        if due is None or due <= now:  # none, or due but without room: a finished one wakes us
            return None
        return max(_FLOOR, due - now)

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            answer = await self.send(delivery)
            async with self._store.transaction() as tx:
                await self._record(tx, delivery, answer, self._clock.now())
        except Exception:
            # The lease runs out and the delivery falls due again: nothing is lost.
            log.exception("delivering event %s failed unexpectedly", delivery.event_id)
        finally:
            if self._client is not None and len(self._tasks) <= 1:  # the last one in flight
                client, self._client = self._client, None
                await client.aclose()
            self.wake()  # room for the next one

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,  # a redirect is a failure: the URL should be updated
                timeout=self._settings.timeout,
                limits=httpx.Limits(max_connections=self._settings.max_in_flight),
            )
        return self._client

    async def send(self, delivery: Delivery) -> Answer:
        """One signed POST of the delivery's body; what came back (never raises for the
        receiver's sake: a timeout or a reset is an answer too)."""
        if not self._settings.allow_private:
            try:  # again at send time: the name may resolve elsewhere by now
                await check_target(delivery.url, allow_private=False)
            except BadTarget as bad:
                return Answer(None, f"not sent: the url {bad}")
        timestamp = int(self._clock.now().timestamp())
        headers = signing.headers(
            delivery.secrets, str(delivery.event_id), timestamp, delivery.body
        )
        timeout = self._settings.timeout
        try:
            async with (
                asyncio.timeout(timeout),  # the whole exchange, not each read
                self._http().stream(
                    "POST", delivery.url, content=delivery.body.encode(), headers=headers
                ) as response,
            ):
                status = response.status_code
                retry_after = _seconds(response.headers.get("retry-after"))
        except TimeoutError:
            return Answer(None, f"no answer within {timeout:g} s")
        except httpx.HTTPError as failure:
            return Answer(None, f"{type(failure).__name__}: {failure}"[:500])
        return Answer(status, "" if 200 <= status < 300 else f"HTTP {status}", retry_after)

    async def _record(
        self, tx: Transaction, delivery: Delivery, answer: Answer, now: datetime
    ) -> None:
        verdict = answer.verdict
        next_at: datetime | None = None
        error = answer.error
        if verdict is Verdict.FAILED:
            delay = retry_delay(
                delivery.attempt,
                self._draw.random(),
                answer.retry_after,
                self._settings.retry_scale,
            )
            next_at = None if delay is None else now + delay
            if next_at is None:
                error = f"{error}; gave up after {ATTEMPTS} attempts"
        held = await tx.finish_webhook_attempt(
            delivery,
            self._worker,
            now,
            http_status=answer.status,
            error=error,
            delivered=verdict is Verdict.DELIVERED,
            next_attempt_at=next_at,
        )
        if not held:
            log.warning(
                "event %s to endpoint %s: the lease ran out before the answer came back",
                delivery.event_id,
                delivery.endpoint_id,
            )
        if verdict is Verdict.DELIVERED:
            await tx.webhook_endpoint_answered(delivery.endpoint_id)
            return
        reason: str | None = GONE_REASON
        if verdict is Verdict.FAILED:
            failures, since = await tx.webhook_endpoint_failed(delivery.endpoint_id, now)
            reason = disable_reason(failures, since, now)
            log.info(
                "event %s to endpoint %s, attempt %d: %s",
                delivery.event_id,
                delivery.endpoint_id,
                delivery.attempt,
                error,
            )
        if reason is not None and await tx.disable_webhook_endpoint(
            delivery.endpoint_id, reason, now
        ):
            log.warning("webhook endpoint %s disabled: %s", delivery.endpoint_id, reason)


def _seconds(header: str | None) -> float | None:
    """A Retry-After given in seconds (a date is rare from receivers, and not honoured)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None
