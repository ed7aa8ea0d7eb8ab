"""What a delivery from Upload-Post changes: each word kept in one transaction through the
Uploader's storage, and what came of it said as one `Heard` (the log line's and the metric's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from uploader.domain import Notice
from uploader.notices.words import AccountWord, Unheeded, Word
from uploader.storage import Transaction, UploaderStore


class Heard(StrEnum):
    """What came of one delivery (the `outcome` of queuelabs_upload_post_webhooks_total)."""

    SETTLED_LATER = "settled_later"  # the job's word kept; the content waiting on it is due now
    UNKNOWN_JOB = "unknown_job"  # nothing of ours waits on that job (not ours, or settled)
    ACCOUNT_MARKED = "account_marked"  # profiles newly marked to reconnect
    ACCOUNT_CLEARED = "account_cleared"  # profiles connected again
    UNCHANGED = "unchanged"  # account news already known, older than what is, or of no profile
    IGNORED = "ignored"  # an event or a platform we do not know
    REFUSED = "refused"  # no secret, or a wrong one (401)
    TOO_LARGE = "too_large"  # 413
    MALFORMED = "malformed"  # not a JSON object, or a known event without its fields (400)
    FAILED = "failed"  # the database could not keep it now (503)


@dataclass(frozen=True)
class Outcome:
    heard: Heard
    content_id: UUID | None = None  # the content made due, for SETTLED_LATER
    profiles: tuple[UUID, ...] = ()  # the profiles marked or cleared

    @property
    def made_due(self) -> bool:
        """A content is due now: the claimer should look at once."""
        return self.content_id is not None


async def heed(store: UploaderStore, word: Word, now: datetime) -> Outcome:
    """Keeps what `word` says, in one transaction."""
    if isinstance(word, Unheeded):
        return Outcome(Heard.IGNORED)
    async with store.transaction() as tx:
        if isinstance(word, Notice):
            content_id = await tx.note_upload_result(word, now)
            if content_id is None:
                return Outcome(Heard.UNKNOWN_JOB)
            return Outcome(Heard.SETTLED_LATER, content_id=content_id)
        return await _account_news(tx, word, now)


async def _account_news(tx: Transaction, word: AccountWord, now: datetime) -> Outcome:
    if word.connected:
        profiles = await tx.clear_reconnect(
            word.upload_post_user, word.platform, word.source, word.word_at, now
        )
        changed = Heard.ACCOUNT_CLEARED
    else:
        profiles = await tx.mark_reconnect(
            word.upload_post_user, word.platform, word.reason, word.source, word.word_at, now
        )
        changed = Heard.ACCOUNT_MARKED
    return Outcome(changed if profiles else Heard.UNCHANGED, profiles=tuple(profiles))
