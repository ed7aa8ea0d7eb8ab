"""What an attempt at a webhook delivery came to, and what follows: the retry schedule (with
jitter) and when an endpoint is disabled. Pure functions of their inputs; the sender
(uploader/workers/webhook_sender.py) asks them and stores the answer.

The schedule is Svix's: a try at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
(eight tries over about 27.5 hours), each wait give or take a tenth at random, so that an
endpoint that comes back is not met by every retry at the same instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.1  # each wait is its step times a factor drawn from [0.9, 1.1)
# A Retry-After longer than the step is honoured, up to this.
LONGEST_SERVER_WAIT = timedelta(hours=10)

# An endpoint whose deliveries failed this many times in a row, over at least this long, is
# disabled (a dead endpoint is not called for ever): one whole schedule's worth of failures.
DISABLE_AFTER_FAILURES = ATTEMPTS
DISABLE_AFTER = timedelta(days=1)


class Verdict(StrEnum):
    DELIVERED = "delivered"  # a 2xx
    FAILED = "failed"  # anything else: retried on the schedule
    GONE = "gone"  # 410 Gone: the receiver wants no more; the endpoint is disabled


@dataclass(frozen=True)
class Answer:
    """What came back from one try: an HTTP status, or none (a timeout, a reset) and why."""

    status: int | None
    error: str = ""
    retry_after: float | None = None  # seconds, from a Retry-After header

    @property
    def verdict(self) -> Verdict:
        if self.status is not None and 200 <= self.status < 300:
            return Verdict.DELIVERED
        if self.status == 410:
            return Verdict.GONE
        return Verdict.FAILED


def retry_delay(
    attempts_made: int, draw: float, server_wait: float | None = None, scale: float = 1.0
) -> timedelta | None:
    """How long after the `attempts_made`-th failed try the next one goes, or None when the
    schedule has run out. `draw` in [0, 1) picks the jitter; `scale` multiplies every wait
    (demos and tests)."""
    if not 1 <= attempts_made < ATTEMPTS:
        return None
    step = RETRY_DELAYS[attempts_made - 1] * (1 + JITTER * (2 * draw - 1))
    if server_wait is not None:
        step = max(step, min(timedelta(seconds=server_wait), LONGEST_SERVER_WAIT))
    return step * scale


def disable_reason(failures_in_a_row: int, failing_since: datetime, now: datetime) -> str | None:
    """Why an endpoint is disabled after this run of failures, or None while it is not."""
    if failures_in_a_row < DISABLE_AFTER_FAILURES or now - failing_since < DISABLE_AFTER:
        return None
    hours = (now - failing_since) / timedelta(hours=1)
    return f"{failures_in_a_row} deliveries failed in a row over {hours:.0f} hours"


GONE_REASON = "the endpoint answered 410 Gone"
