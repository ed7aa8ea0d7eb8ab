"""Per-platform retry policies: data, not code paths. A new ladder is a changed row; a new
platform needs a row here too (queuelabs/platforms.py lists the other places).

`retry_delay` is the whole retry rule, a pure function; uploader/decisions.py asks it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from queuelabs.platforms import Platform


class WhenExhausted(StrEnum):
    RESCHEDULE = "reschedule"  # ask the Allocator for the next free slot, then try again there
    FAIL = "fail"  # stop, with the reason, for a person to look at


@dataclass(frozen=True)
class RetryPolicy:
    retry_delays: tuple[float, ...]  # seconds before retry 1, 2, ...; its length caps the retries
    async_upload: bool  # Upload-Post's async mode, then poll the status endpoint
    read_timeout: float  # seconds to wait for a synchronous answer
    when_exhausted: WhenExhausted = WhenExhausted.RESCHEDULE
    poll_first: float = 5.0  # the documented polling rhythm: first after ~5 s...
    poll_every: float = 10.0  # ...then every ~10 s
    poll_give_up: float = 1800.0  # pending this long after the call: treat as a failed try

    def scaled(self, factor: float) -> RetryPolicy:
        """The same policy with every wait multiplied by `factor` (for tests and demos)."""
        return replace(
            self,
            retry_delays=tuple(d * factor for d in self.retry_delays),
            poll_first=self.poll_first * factor,
            poll_every=self.poll_every * factor,
            poll_give_up=self.poll_give_up * factor,
        )


# Instagram is known slow: the incident plan's ladder (30 s, 60 s, 120 s) and async mode, so a
# slow upload is a job to poll instead of a request that a proxy cuts off with a 504.
DEFAULT_POLICIES: dict[Platform, RetryPolicy] = {
    Platform.INSTAGRAM: RetryPolicy((30, 60, 120), async_upload=True, read_timeout=60),
    Platform.YOUTUBE: RetryPolicy((30, 120, 300), async_upload=True, read_timeout=60),
    Platform.TIKTOK: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=90),
    Platform.FACEBOOK: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=60),
    Platform.LINKEDIN: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=60),
    Platform.X: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=60),
    Platform.THREADS: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=60),
    Platform.PINTEREST: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=60),
    Platform.REDDIT: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=60),
    Platform.BLUESKY: RetryPolicy((15, 60, 240), async_upload=False, read_timeout=60),
}


def retry_delay(
    policy: RetryPolicy, retries_so_far: int, server_wait: float | None
) -> float | None:
    """Seconds to wait before the next try, or None when the retries have run out.

    A wait the server asked for (Retry-After, X-RateLimit-Reset) is honoured when longer.
    """
    if retries_so_far >= len(policy.retry_delays):
        return None
    return max(policy.retry_delays[retries_so_far], server_wait or 0.0)
