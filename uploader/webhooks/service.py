"""The webhook endpoints' management: create (the secret is shown then), list (never a
secret), delete, rotate the secret (the old one keeps signing for a while), and every attempt
for an operator."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from uuid import UUID

from queuelabs.clock import Clock
from queuelabs.errors import InvalidArgument
from uploader.errors import WebhookEndpointNotFound
from uploader.storage import UploaderStore
from uploader.webhooks.domain import AttemptView, Endpoint, EndpointSpec, Rotation
from uploader.webhooks.signing import new_secret
from uploader.webhooks.targets import BadTarget, check_target

# How long a rotated-out secret keeps signing when the caller does not say.
DEFAULT_OVERLAP = timedelta(hours=24)
LONGEST_OVERLAP = timedelta(days=7)


class WebhookService:
    def __init__(self, store: UploaderStore, clock: Clock, allow_private: bool) -> None:
        self._store = store
        self._clock = clock
        self._allow_private = allow_private

    async def create_endpoint(self, spec: EndpointSpec) -> tuple[Endpoint, str]:
        """A new endpoint and its secret (shown this once)."""
        try:
            await check_target(spec.url, self._allow_private)
        except BadTarget as bad:
            raise InvalidArgument("url", str(bad)) from None
        secret = new_secret()
        async with self._store.transaction() as tx:
            endpoint = await tx.create_webhook_endpoint(
                uuid.uuid4(), spec, secret, self._clock.now()
            )
        return endpoint, secret

    async def list_endpoints(
        self, after: tuple[datetime, UUID] | None, page_size: int
    ) -> tuple[list[Endpoint], bool]:
        """A page of endpoints, oldest first, and whether more follow."""
        async with self._store.transaction() as tx:
            found = await tx.webhook_endpoints(after, page_size + 1)
        return found[:page_size], len(found) > page_size

    async def delete_endpoint(self, endpoint_id: UUID) -> None:
        async with self._store.transaction() as tx:
            if not await tx.delete_webhook_endpoint(endpoint_id):
                raise _not_found(endpoint_id)

    async def rotate_secret(self, endpoint_id: UUID, overlap: timedelta | None) -> Rotation:
        """A new secret; the current one keeps signing beside it for `overlap` (default a day)."""
        overlap = DEFAULT_OVERLAP if overlap is None else overlap
        if not timedelta(0) <= overlap <= LONGEST_OVERLAP:
            raise InvalidArgument(
                "previous_secret_valid_for", f"must be between 0 and {LONGEST_OVERLAP.days} days"
            )
        secret = new_secret()
        expires_at = self._clock.now() + overlap
        async with self._store.transaction() as tx:
            if not await tx.rotate_webhook_secret(endpoint_id, secret, expires_at):
                raise _not_found(endpoint_id)
        return Rotation(endpoint_id, secret, expires_at)

    async def list_attempts(
        self,
        endpoint_id: UUID | None,
        event_id: UUID | None,
        before: tuple[datetime, UUID] | None,
        page_size: int,
    ) -> tuple[list[tuple[AttemptView, UUID]], bool]:
        """A page of attempts, newest first, and whether more follow."""
        async with self._store.transaction() as tx:
            if endpoint_id is not None and await tx.webhook_endpoint(endpoint_id) is None:
                raise _not_found(endpoint_id)
            found = await tx.webhook_attempts(endpoint_id, event_id, before, page_size + 1)
        return found[:page_size], len(found) > page_size


def _not_found(endpoint_id: UUID) -> WebhookEndpointNotFound:
    return WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id}", endpoint_id=endpoint_id)
