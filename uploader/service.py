"""The operator's controls over publishing: look, publish now, retry, cancel, pause."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from queuelabs.caps import WINDOW, cap_variable, first_allowed
from queuelabs.clock import Clock
from queuelabs.lifecycle import RETRYABLE_BY_HAND, Event, needs_one_of, sources
from queuelabs.platforms import Platform
from uploader.allocator_client import AllocatorGateway
from uploader.domain import PauseState, UploadQuery, UploadView
from uploader.errors import ContentNotFound, OverDailyCap, ProfileNotFound, WrongState
from uploader.pacing import Limits
from uploader.storage import Transaction, UploaderStore
from uploader.waiting import Standing, standing


class UploaderService:
    def __init__(
        self,
        store: UploaderStore,
        allocator: AllocatorGateway,
        clock: Clock,
        daily_caps: Mapping[Platform, int],
        limits: Limits,
        wake_claimer: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._allocator = allocator
        self._clock = clock
        self._daily_caps = daily_caps
        self._limits = limits  # what the claimer paces to: why a content waits (waiting.py)
        self._wake_claimer = wake_claimer

    async def get_upload(self, content_id: UUID) -> Standing:
        async with self._store.transaction() as tx:
            [found] = await self._standings(tx, [await _view(tx, content_id)])
        return found

    async def list_uploads(self, query: UploadQuery) -> tuple[list[Standing], bool]:
        """A page of uploads, and whether more follow."""
        async with self._store.transaction() as tx:
            if query.profile_id is not None and not await tx.profile_exists(query.profile_id):
                raise ProfileNotFound(f"no profile {query.profile_id}", profile_id=query.profile_id)
            found = await tx.list_views(query)
            page = await self._standings(tx, found[: query.page_size])
        return page, len(found) > query.page_size

    async def upload_now(self, content_id: UUID) -> Standing:
        """Publishes a scheduled (or retry-pending) content now instead of at its time, if
        that keeps its account within the daily cap."""
        claimable = sources(Event.CLAIM)
        now = self._clock.now()
        async with self._store.transaction() as tx:
            view = await _view(tx, content_id)
            if view.state in claimable:
                await self._check_daily_cap(tx, view, now)
            if view.state not in claimable or not await tx.upload_now(content_id, now):
                view = await _view(tx, content_id)  # as it is now: it may have moved meanwhile
                raise WrongState(
                    needs_one_of(f"content {content_id}", view.state, "UploadNow", claimable),
                    content_id=content_id,
                    state=view.state.value,
                )
            [found] = await self._standings(tx, [await _view(tx, content_id)])
        self._wake_claimer()
        return found

    async def retry_upload(self, content_id: UUID) -> Standing:
        """Puts a failed content back in line, in the earliest free slot from now."""
        view = (await self.get_upload(content_id)).view
        if view.state not in RETRYABLE_BY_HAND:
            raise WrongState(
                needs_one_of(f"content {content_id}", view.state, "RetryUpload", RETRYABLE_BY_HAND),
                content_id=content_id,
                state=view.state.value,
            )
        await self._allocator.reschedule(content_id, "retried by an operator")
        self._wake_claimer()
        return await self.get_upload(content_id)

    async def cancel_upload(self, content_id: UUID, reason: str) -> Standing:
        """Never publish this content; its slot goes back to the Allocator."""
        await self.get_upload(content_id)  # NOT_FOUND before asking the Allocator
        await self._allocator.release(content_id, reason or "cancelled by an operator", cancel=True)
        return await self.get_upload(content_id)

    async def pause(
        self, profile_id: UUID, platform: Platform, by: str = "", reason: str = ""
    ) -> PauseState:
        """Pauses publishing for the key, `by` a caller (its AUTH_TOKENS name) for `reason`; a
        key paused already keeps the pause it has (the answer tells whose)."""
        async with self._store.transaction() as tx:
            await _require_profile(tx, profile_id)
            pause = await tx.pause(profile_id, platform, self._clock.now(), by, reason)
        return PauseState(profile_id, platform, pause.paused_at, pause.paused_by, pause.reason)

    async def resume(self, profile_id: UUID, platform: Platform) -> PauseState:
        async with self._store.transaction() as tx:
            await _require_profile(tx, profile_id)
            # An operator's resume also lets an account marked for reconnection go: they have
            # reconnected it, or know better than the mark.
            await tx.resume(profile_id, platform, self._clock.now())
        self._wake_claimer()
        return PauseState(profile_id, platform, None)

    async def _standings(self, tx: Transaction, views: Sequence[UploadView]) -> list[Standing]:
        """Each view with why it waits, the facts read once for them all."""
        context = await tx.waiting_context(views, self._clock.now(), self._limits)
        return [standing(view, context) for view in views]

    async def _check_daily_cap(self, tx: Transaction, view: UploadView, now: datetime) -> None:
        cap = self._daily_caps.get(view.platform)
        if cap is None:
            return
        counted = await tx.counted_instants(
            view.profile_id, view.platform, now - WINDOW, now + WINDOW, moving=view.content_id
        )
        allowed = first_allowed(counted, now, cap)
        if allowed != now:
            raise OverDailyCap(
                f"publishing {view.content_id} now would put more than {cap} "
                f"{view.platform.value} posts into 24 hours ({cap_variable(view.platform)}); "
                f"the earliest it may go is {allowed:%Y-%m-%d %H:%M} UTC",
                content_id=view.content_id,
                platform=view.platform.value,
                cap=cap,
                earliest=allowed.isoformat(),
            )


async def _view(tx: Transaction, content_id: UUID) -> UploadView:
    view = await tx.view(content_id)
    if view is None:
        raise ContentNotFound(f"no content {content_id}", content_id=content_id)
    return view


async def _require_profile(tx: Transaction, profile_id: UUID) -> None:
    if not await tx.profile_exists(profile_id):
        raise ProfileNotFound(
            f"no profile {profile_id}; create it with Allocator.UpsertProfile",
            profile_id=profile_id,
        )
