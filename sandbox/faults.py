"""The faults the sandbox can play, as data: each name says what happens to one upload request.

Faults are queued per platform through `POST /_sandbox/faults` and consumed one per upload
request for that platform, in order; with none queued a request is answered normally (`ok`).
A fault may take an argument after a colon: `429:<seconds>` (the Retry-After it sends),
`slow:<seconds>` (how late the answer comes), `status_unreadable:<reads>` (how many status
look-ups of the job get an unreadable answer; 2 unless given).

Faults can also come at random (`RandomFaults`): a share of all requests, each drawing one fault
of a mix, from a seed (chaos runs); queued faults go first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
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
    status_unreadable: bool = False  # the job's status look-ups get a body that is not JSON
    status_missing: bool = False  # the status endpoint has no record of the job (a 404)


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
    # published, but the next look-ups of its status answer 200 with a cut-off body
    "status_unreadable": Fault(status_unreadable=True),
    # published, but the status endpoint has no record of it (a 404): only the history has it
    "status_missing": Fault(status_missing=True),
}

# Every way the real API has been seen to fail, for a random mix: a proxy's 504 after and before
# the upload, server errors, a 429 with Retry-After, the connection reset before and after, an
# answer slower than the Uploader's read timeout, an async job that fails, a platform refusing
# in a 200, a status that cannot be read, and a bad request (the one a retry cannot mend).
EVERY_FAULT = (
    "504_after",
    "504_before",
    "500",
    "502",
    "503",
    "429:1",
    "drop_before",
    "drop_after",
    "slow:5",
    "async_fail",
    "partial",
    "status_unreadable",
    "400",
)


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


@dataclass
class RandomFaults:
    """A `rate` share of requests each meet one fault drawn from `mix`, in an order fixed by
    `seed`. Upload requests draw from the whole mix; status look-ups answer unreadably at the
    same rate when the mix holds `status_unreadable`."""

    rate: float
    mix: tuple[Scripted, ...]
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"fault rate {self.rate} is not between 0 and 1")
        if self.rate and not self.mix:
            raise ValueError("a fault rate needs faults to draw from")
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, rate: float, names: list[str] | tuple[str, ...], seed: int = 0) -> RandomFaults:
        return cls(rate, tuple(Scripted.parse(name) for name in names), seed)

    def upload(self) -> Scripted:
        if self._rng.random() >= self.rate:
            return OK
        return self._rng.choice(self.mix)

    def status_unreadable(self) -> bool:
        if not any(s.fault.status_unreadable for s in self.mix):
            return False
        return self._rng.random() < self.rate
