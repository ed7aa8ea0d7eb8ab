"""The faults the sandbox can play, as data: each name says what happens to one upload request.

Faults are queued per platform through `POST /_sandbox/faults` and consumed one per upload
request for that platform, in order; with none queued a request is answered normally (`ok`).
A fault may take an argument after a colon: `429:<seconds>` (the Retry-After it sends),
`slow:<seconds>` (how late the answer comes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Before(StrEnum):
    """What happens before the request is taken in."""

    TAKE = "take"  # taken in: a job is made
    REFUSE = "refuse"  # answered at once with `status`; nothing is published
    DROP = "drop"  # the connection is cut at once; nothing is published


class JobEnd(StrEnum):
    """How the job ends."""

    PUBLISHED = "published"
    PLATFORM_REFUSED = "platform refused"  # a 200 whose platform result failed ("partial")
    ASYNC_FAILED = "async failed"  # an async job that ends failed


class Answer(StrEnum):
    """What the client sees once the job exists."""

    RESULT = "result"  # the normal answer
    GATEWAY_TIMEOUT = "gateway timeout"  # a proxy's 504 page: the client cannot know
    DROP = "drop"  # the connection is cut with no answer
    LATE = "late"  # the normal answer, `argument` seconds later


@dataclass(frozen=True)
class Fault:
    before: Before = Before.TAKE
    status: int = 200  # with Before.REFUSE
    job: JobEnd = JobEnd.PUBLISHED
    answer: Answer = Answer.RESULT


FAULTS: dict[str, Fault] = {
    "ok": Fault(),
    "504_after": Fault(answer=Answer.GATEWAY_TIMEOUT),  # published, then a 504
    "504_before": Fault(Before.REFUSE, 504),
    "500": Fault(Before.REFUSE, 500),
    "502": Fault(Before.REFUSE, 502),
    "503": Fault(Before.REFUSE, 503),
    "429": Fault(Before.REFUSE, 429),  # 429:<seconds> sets Retry-After (default 2)
    "400": Fault(Before.REFUSE, 400),
    "401": Fault(Before.REFUSE, 401),
    "403": Fault(Before.REFUSE, 403),
    "404": Fault(Before.REFUSE, 404),
    "drop_before": Fault(Before.DROP),
    "drop_after": Fault(answer=Answer.DROP),  # published, connection cut
    "slow": Fault(answer=Answer.LATE),  # slow:<seconds>: published, answered that much later
    "partial": Fault(job=JobEnd.PLATFORM_REFUSED),
    "async_fail": Fault(job=JobEnd.ASYNC_FAILED),
}


@dataclass(frozen=True)
class Scripted:
    """One queued fault: its name, what it does, and its argument."""

    name: str
    fault: Fault
    argument: str = ""

    @classmethod
    def parse(cls, text: str) -> Scripted:
        """`name` or `name:argument`; ValueError names what is wrong."""
        name, _, argument = text.partition(":")
        fault = FAULTS.get(name)
        if fault is None:
            raise ValueError(f"unknown fault {text!r}; known: {', '.join(FAULTS)}")
        if argument:
            try:
                float(argument)
            except ValueError:
                raise ValueError(f"fault {text!r}: {argument!r} is not a number") from None
        return cls(text, fault, argument)


OK = Scripted("ok", FAULTS["ok"])
