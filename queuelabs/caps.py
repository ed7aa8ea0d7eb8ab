"""Upload-Post's daily caps per social account, and the rolling-window rule behind them.

A cap allows at most `cap` posts of one (profile, platform) in any 24 hours, rolling: a set of
instants keeps it exactly when every `cap + 1` consecutive instants (sorted) span at least 24 h.
Both services ask this module: the Allocator when it chooses a slot and when it takes a
schedule, the Uploader when an operator asks to publish early.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from queuelabs.platforms import Platform

WINDOW = timedelta(hours=24)

# Upload-Post's published caps (rolling 24 h per social account); UPLOAD_POST_DAILY_CAP_<P>.
DEFAULT_DAILY_CAPS: Mapping[Platform, int] = {
    Platform.INSTAGRAM: 50,
    Platform.TIKTOK: 15,
    Platform.YOUTUBE: 10,
    Platform.FACEBOOK: 25,
    Platform.LINKEDIN: 150,
    Platform.X: 50,
    Platform.THREADS: 50,
    Platform.PINTEREST: 20,
    Platform.REDDIT: 40,
    # Upload-Post documents no cap for Bluesky; X's and Threads' 50 until it does.
    Platform.BLUESKY: 50,
}


def cap_variable(platform: Platform) -> str:
    return f"UPLOAD_POST_DAILY_CAP_{platform.name}"


def first_allowed(taken: Sequence[datetime], at: datetime, cap: int) -> datetime:
    """`at` itself when one more post there keeps every 24 h window within `cap`; else a time
    before which no instant can be allowed (the caller looks again from there).

    `taken` is sorted and holds at least every counted instant within 24 h of `at`.
    """
    if cap < 1:
        raise ValueError("a cap allows at least one post")
    # Fewer than `cap` instants less than 24 h from `at`: no window holding `at` can be full.
    near = bisect.bisect_left(taken, at + WINDOW) - bisect.bisect_right(taken, at - WINDOW)
    if near < cap:
        return at
    split = bisect.bisect_left(taken, at)  # taken[:split] is before `at`, the rest after
    bound = at
    # Every run of `cap` taken instants that would hold `at` with them: its first instant and
    # its last. The run stays too tight until its first instant is 24 h behind.
    for k in range(cap + 1):  # k instants from before `at`, the rest from after
        rest = cap - k
        if k > split or rest > len(taken) - split:
            continue
        first = taken[split - k] if k else (taken[split] if rest else at)
        last = taken[split + rest - 1] if rest else at
        if max(last, at) - min(first, at) < WINDOW:
            bound = max(bound, first + WINDOW)
    return bound


def fullest_window(taken: Sequence[datetime]) -> int:
    """How many instants the fullest 24 h window among `taken` (sorted) holds."""
    fullest, start = 0, 0
    for end, instant in enumerate(taken):
        while instant - taken[start] >= WINDOW:
            start += 1
        fullest = max(fullest, end - start + 1)
    return fullest
