"""What the sandbox remembers: its jobs (by request id and by idempotency key), the faults queued
per platform, every publication, every upload request as it arrived (for tests to read), the
social accounts' health and the notification settings; a job's end and an account's change are
told to the registered webhook."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sandbox import forms, notifications
from sandbox.accounts import Account, Accounts, AccountState
from sandbox.deliveries import Sender
from sandbox.faults import RandomFaults, Scripted
from sandbox.limits import Meter, SandboxLimits
from sandbox.notifications import Registration

PLATFORMS = forms.PLATFORMS  # the names Upload-Post takes in platform[]


@dataclass
class Job:
    request_id: str
    idempotency_key: str
    user: str
    platform: str
    title: str
    media_type: str = "video"  # video, photo, text: which posting endpoint made it
    caption: str = ""  # the post's description
    status: str = "in_progress"  # in_progress, completed, failed
    success: bool | None = None
    post_url: str = ""
    post_id: str = ""
    error: str = ""
    created_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    unreadable_reads: int = 0  # status look-ups still to answer unreadably (a fault)
    status_missing: bool = False  # the status endpoint answers 404 for it (a fault)

    @property
    def done(self) -> bool:
        return self.status != "in_progress"


@dataclass(frozen=True)
class Publication:
    request_id: str
    idempotency_key: str
    user: str
    platform: str
    title: str
    published_at: float


@dataclass
class Received:
    """One posting form as it came: its fields in order (a list field once per item), and the
    status it was answered (0 until answered)."""

    path: str
    fields: list[tuple[str, str]]
    status: int = 0


@dataclass(frozen=True)
class Scheduled:
    """A post handed to Upload-Post's own scheduler (`scheduled_date`): posted later, not now."""

    job_id: str
    user: str
    platforms: tuple[str, ...]
    scheduled_date: str


@dataclass(frozen=True)
class Logged:
    """One request to the API, as the sandbox answered it: with the Idempotency-Key of the
    upload it concerns (a status look-up: its job's) and the fault it met, if any."""

    at: float
    method: str
    path: str
    status: int
    key: str = ""
    fault: str = ""


def _released() -> asyncio.Event:
    released = asyncio.Event()
    released.set()
    return released


@dataclass
class SandboxState:
    api_key: str
    dedupe: bool = True  # Idempotency-Key deduplication, as the real API does
    async_seconds: float = 1.0  # how long an async job takes
    upload_seconds: float = 0.0  # how long a posting request takes to answer
    # Cleared while posting requests are held (`{"hold": true}`): each waits, unanswered, until
    # set again. A chaos run holds them to kill a replica surely in mid-publish.
    released: asyncio.Event = field(default_factory=_released)
    meter: Meter = field(default_factory=lambda: Meter(SandboxLimits()))
    log: list[Logged] = field(default_factory=list)  # every request to /api/, in order
    faults: dict[str, deque[Scripted]] = field(default_factory=lambda: defaultdict(deque))
    random_faults: RandomFaults = field(default_factory=lambda: RandomFaults(0.0, ()))
    jobs: dict[str, Job] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    publications: list[Publication] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)  # every posting form, in order
    scheduled: list[Scheduled] = field(default_factory=list)  # posts left to the API's scheduler
    accounts: Accounts = field(default_factory=Accounts)
    registration: Registration = field(default_factory=Registration)  # one: the sandbox has one key
    sender: Sender = field(default_factory=Sender)

    def queue_faults(self, platform: str, *names: str) -> None:
        """Queues faults by name (see sandbox/faults.py); ValueError for an unknown one."""
        self.faults[platform].extend(Scripted.parse(name) for name in names)

    def next_fault(self, platform: str) -> Scripted:
        """The next queued fault for the platform, else one drawn at random (most often OK)."""
        queued = self.faults[platform]
        return queued.popleft() if queued else self.random_faults.upload()

    def status_unreadable(self, job: Job) -> bool:
        """Whether this look-up of the job's status gets an unreadable answer."""
        if job.unreadable_reads > 0:
            job.unreadable_reads -= 1
            return True
        return self.random_faults.status_unreadable()

    def earlier_job(self, key: str) -> Job | None:
        """The job made before under the same Idempotency-Key (deduplication), else None."""
        if self.dedupe and key and key in self.by_key:
            return self.jobs[self.by_key[key]]
        return None

    def new_job(
        self,
        key: str,
        request_id: str | None,
        user: str,
        platform: str,
        title: str,
        *,
        media_type: str = "video",
        caption: str = "",
    ) -> Job:
        job = Job(
            request_id or str(uuid.uuid4()),
            key,
            user,
            platform,
            title,
            media_type=media_type,
            caption=caption,
        )
        self.jobs[job.request_id] = job
        if key:
            self.by_key[key] = job.request_id
        return job

    def schedule(
        self, user: str, platforms: list[str], fields: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Takes a post for Upload-Post's own scheduler, and answers as it does (HTTP 202): the
        sandbox never posts it, but counts it, so that a test can say none was sent."""
        when = dict(fields).get("scheduled_date", "") or "next queue slot"
        job = Scheduled(uuid.uuid4().hex, user, tuple(platforms), when)
        self.scheduled.append(job)
        return {
            "success": True,
            "message": "Post scheduled successfully",
            "job_id": job.job_id,
            "scheduled_date": when,
        }

    def publish(self, job: Job) -> None:
        self.meter.count_publication(job.user, job.platform)
        job.status, job.success, job.ended_at = "completed", True, time.time()
        job.post_id = uuid.uuid4().hex[:12]
        job.post_url = f"https://www.{job.platform}.com/p/{job.post_id}"
        self.publications.append(
            Publication(
                job.request_id, job.idempotency_key, job.user, job.platform, job.title, time.time()
            )
        )
        self._notify(_upload_completed(job))

    def fail(self, job: Job, reason: str) -> None:
        job.status, job.success, job.error = "failed", False, reason
        job.ended_at = time.time()
        self._notify(_upload_completed(job))

    def set_account(
        self, user: str, platform: str, state: AccountState, reason: str | None = None
    ) -> Account:
        account = self.accounts.set(user, platform, state, reason)
        self._notify(notifications.account_changed(account))
        return account

    def _notify(self, payload: dict[str, Any]) -> None:
        url = self.registration.webhook_url
        if url and self.registration.wants(payload["event"]):
            self.sender.send(url, payload)


def _upload_completed(job: Job) -> dict[str, Any]:
    return notifications.upload_completed(
        request_id=job.request_id,
        user=job.user,
        platform=job.platform,
        media_type=job.media_type,
        title=job.title,
        caption=job.caption,
        success=bool(job.success),
        url=job.post_url or None,
        post_id=job.post_id or None,
        error=job.error or None,
        ended_at=job.ended_at or job.created_at,
    )
