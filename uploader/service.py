"""The operator's controls over publishing: look, publish now, retry, cancel, pause."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from uuid import UUID

from queuelabs.caps import WINDOW, cap_variable, first_allowed
from queuelabs.clock import Clock
from queuelabs.lifecycle import RETRYABLE_BY_HAND, Event, needs_one_of, sources
from queuelabs.platforms import Platform
from uploader.allocator_client import AllocatorGateway
from uploader.domain import PauseState, UploadQuery, UploadView
from uploader.errors import ContentNotFound, OverDailyCap, ProfileNotFound, WrongState
from uploader.storage import Transaction, UploaderStore


class UploaderService:
    def __init__(
        self,
        store: UploaderStore,
        allocator: AllocatorGateway,
        clock: Clock,
        daily_caps: Mapping[Platform, int],
        wake_claimer: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._allocator = allocator
        self._clock = clock
        self._daily_caps = daily_caps
        self._wake_claimer = wake_claimer

    async def get_upload(self, content_id: UUID) -> UploadView:
        async with self._store.transaction() as tx:
            return await _view(tx, content_id)

    async def list_uploads(self, query: UploadQuery) -> tuple[list[UploadView], bool]:
        """A page of uploads, and whether more follow."""
        async with self._store.transaction() as tx:
            if query.profile_id is not None and not await tx.profile_exists(query.profile_id):
                raise ProfileNotFound(f"no profile {query.profile_id}", profile_id=query.profile_id)
            found = await tx.list_views(query)
        return found[: query.page_size], len(found) > query.page_size

    async def upload_now(self, content_id: UUID) -> UploadView:
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
            view = await _view(tx, content_id)
        self._wake_claimer()
        return view

    async def retry_upload(self, content_id: UUID) -> UploadView:
        """Puts a failed content back in line, in the earliest free slot from now."""
        view = await self.get_upload(content_id)
        if view.state not in RETRYABLE_BY_HAND:
            raise WrongState(
                needs_one_of(f"content {content_id}", view.state, "RetryUpload", RETRYABLE_BY_HAND),
                content_id=content_id,
                state=view.state.value,
            )
        await self._allocator.reschedule(content_id, "retried by an operator")
        self._wake_claimer()
        return await self.get_upload(content_id)

    async def cancel_upload(self, content_id: UUID, reason: str) -> UploadView:
        """Never publish this content; its slot goes back to the Allocator."""
        await self.get_upload(content_id)  # NOT_FOUND before asking the Allocator
        await self._allocator.release(content_id, reason or "cancelled by an operator", cancel=True)
        return await self.get_upload(content_id)

    async def pause(self, profile_id: UUID, platform: Platform) -> PauseState:
        async with self._store.transaction() as tx:
            await _require_profile(tx, profile_id)
            paused_at = await tx.pause(profile_id, platform, self._clock.now())
        return PauseState(profile_id, platform, paused_at)

    async def resume(self, profile_id: UUID, platform: Platform) -> PauseState:
        async with self._store.transaction() as tx:
            await _require_profile(tx, profile_id)
            await tx.resume(profile_id, platform)
        self._wake_claimer()
        return PauseState(profile_id, platform, None)

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
