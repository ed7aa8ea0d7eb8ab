"""Serving waiting requests together: the requests of one replica that wait for the same keys
are handed to one call of `serve` (one transaction) instead of one each.

A request names its key and its size (contents). When a group may start (fewer than
`groups_in_flight` run), the waiting requests are taken in arrival order, skipping those whose
key a running group serves, until the group holds `group_limit` contents (always at least one
request). A key's requests are therefore served in arrival order, one group at a time; keys of
different groups never overlap. `serve` answers each request of its group; if it fails, every
request it left unanswered gets its error.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")


@dataclass(eq=False)
class Waiting(Generic[Request, Answer]):
    key: Hashable
    size: int
    request: Request
    answer: asyncio.Future[Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def answer_with(self, answer: Answer | BaseException) -> None:
        """Answers unless already answered (or the caller gave up waiting)."""
        if self.answer.done():
            return
        if isinstance(answer, asyncio.CancelledError):
            self.answer.cancel()
        elif isinstance(answer, BaseException):
            self.answer.set_exception(answer)
        else:
            self.answer.set_result(answer)


Serve = Callable[[Sequence[Waiting[Request, Answer]]], Awaitable[None]]


class Coalescer(Generic[Request, Answer]):
    def __init__(
        self, serve: Serve[Request, Answer], group_limit: int, groups_in_flight: int
    ) -> None:
        if group_limit < 1 or groups_in_flight < 1:
            raise ValueError("a group holds at least one content, and at least one group runs")
        self._serve = serve
        self._group_limit = group_limit
        self._groups_in_flight = groups_in_flight
        self._waiting: deque[Waiting[Request, Answer]] = deque()
        self._busy: set[Hashable] = set()  # keys a running group serves
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, key: Hashable, size: int, request: Request) -> Answer:
        """Waits for the request's group to be served; returns its answer or raises its error.
        A caller that gives up while waiting leaves the queue; once its group runs, the group
        finishes without it."""
        waiting: Waiting[Request, Answer] = Waiting(key, size, request)
        self._waiting.append(waiting)
        self._start_groups()
        return await waiting.answer

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _start_groups(self) -> None:
        while len(self._running) < self._groups_in_flight:
            group = self._next_group()
            if not group:
                return
            keys = {w.key for w in group}
            self._busy |= keys
            task = asyncio.create_task(self._run(group, keys))
            self._running.add(task)

    def _next_group(self) -> list[Waiting[Request, Answer]]:
        group: list[Waiting[Request, Answer]] = []
        size = 0
        held_back: set[Hashable] = set()  # keys with an earlier request left for a later group
        left: deque[Waiting[Request, Answer]] = deque()
        for waiting in self._waiting:
            if waiting.answer.done():
                continue  # its caller gave up
            if waiting.key in self._busy or waiting.key in held_back:
                left.append(waiting)
            elif group and size + waiting.size > self._group_limit:
                held_back.add(waiting.key)
                left.append(waiting)
            else:
                group.append(waiting)
                size += waiting.size
        self._waiting = left
        return group

    async def _run(self, group: list[Waiting[Request, Answer]], keys: set[Hashable]) -> None:
        try:
            await self._serve(group)
        except BaseException as failed:  # every member gets the group's error
            for waiting in group:
                waiting.answer_with(failed)
            if not isinstance(failed, Exception):
                raise
        finally:
            unanswered = RuntimeError("the group ended without answering this request")
            for waiting in group:
                waiting.answer_with(unanswered)
            self._busy -= keys
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)
            self._start_groups()
