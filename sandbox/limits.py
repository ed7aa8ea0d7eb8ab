"""The limits Upload-Post puts on a key, as the sandbox enforces them: the plan's request rate
(every request counts), each profile's posting rate, and the daily cap per social account
(rolling 24 h of publications). Answers carry the real headers; a request over a limit gets the
real 429 (a cap's names its violation)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MINUTE = 60.0
DAY = 86_400.0
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class SandboxLimits:
    requests_per_minute: int | None = None  # None: no limit
    posts_per_minute_per_profile: int | None = None
    daily_caps: dict[str, int] = field(default_factory=dict)  # platform -> cap; absent: none


@dataclass(frozen=True)
class Verdict:
    """Over a limit: the 429's body and how long to wait."""

    body: dict[str, object]
    retry_after: float


@dataclass
class Meter:
    limits: SandboxLimits
    clock: Callable[[], float] = time.time  # a test may fix it to pin a Retry-After exactly
    requests: deque[float] = field(default_factory=deque)  # when each request was taken
    posts: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    published: dict[tuple[str, str], deque[float]] = field(
        default_factory=lambda: defaultdict(deque)
    )

    def headers(self, now: float | None = None) -> dict[str, str]:
        now = self.clock() if now is None else now
        _expire(self.requests, now - MINUTE)
        limit = self.limits.requests_per_minute or UNLIMITED  # no plan: a limit never reached
        used = len(self.requests)
        reset = (self.requests[0] + MINUTE) if self.requests else now + MINUTE
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": str(int(reset + 0.999)),
        }

    def take_request(self, now: float | None = None) -> Verdict | None:
        """Counts a request to any endpoint, or says why it is refused."""
        now = self.clock() if now is None else now
        _expire(self.requests, now - MINUTE)
        plan = self.limits.requests_per_minute
        if plan is not None and len(self.requests) >= plan:
            wait = self.requests[0] + MINUTE - now
            return Verdict({"success": False, "message": "Too many requests"}, wait)
        self.requests.append(now)
        return None

    def take_post(self, user: str, platform: str, now: float | None = None) -> Verdict | None:
        """Counts a post by `user` to `platform`, or says which limit refuses it."""
        now = self.clock() if now is None else now
        posts = self.posts[user]
        _expire(posts, now - MINUTE)
        rate = self.limits.posts_per_minute_per_profile
        if rate is not None and len(posts) >= rate:
            return Verdict(
                {"success": False, "message": f"Too many posts for {user}: {rate} per minute"},
                posts[0] + MINUTE - now,
            )
        published = self.published[(user, platform)]
        _expire(published, now - DAY)
        cap = self.limits.daily_caps.get(platform)
        if cap is not None and len(published) >= cap:
            violation = {
                "platform": platform,
                "type": "hard_cap",
                "used_last_24h": len(published),
                "cap": cap,
            }
            return Verdict(
                {
                    "success": False,
                    "message": "Post verification failed",
                    "violations": [violation],
                },
                published[0] + DAY - now,
            )
        posts.append(now)
        return None

    def count_publication(self, user: str, platform: str, now: float | None = None) -> None:
        self.published[(user, platform)].append(self.clock() if now is None else now)


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()
