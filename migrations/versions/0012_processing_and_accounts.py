"""A job Upload-Post accepted is its own state, and a social account's health is kept.

- `processing`: Upload-Post took the job (async mode) and is publishing it. Until now such a
  content sat in `unknown_outcome`, beside calls whose outcome nobody could see. A content in
  `unknown_outcome` whose newest publish call was answered "accepted" moves to `processing`.
- `accounts`: what is known of a (profile, platform) social account as Upload-Post sees it: since
  when it needs reconnecting (a dead token: nothing is sent to it until it is reconnected), and
  until when its daily cap is full. `word_at` is the time of the latest word on its connection
  (a webhook's own time), so that a word that arrives late cannot undo a newer one.
- `upload_post_notices`: Upload-Post's word on a job (its `upload_completed` webhook), kept so
  that the look-up of that job reads it instead of asking (a repeat is the same row); the
  partial index `contents_on_a_job` finds the few contents a word can be about.
- `paused_keys` learns who paused a key and why.
- New stored values: the outcomes `reconnect` and `capped`, the attempt kind `notice` (a look-up
  answered by a webhook, no request sent), and the event types `upload.processing`,
  `account.reconnect_required` and `account.reconnected`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Literal lists, as migrations must have: each equals its set in the code at this revision
# (tests/test_lifecycle.py and tests/test_stored_values.py keep them equal).
STATES = (
    "'scheduled', 'uploading', 'retry_pending', 'unknown_outcome', 'processing', "
    "'awaiting_slot', 'uploaded', 'failed', 'removed'"
)
SLOT_HOLDING = (
    "'awaiting_slot', 'processing', 'retry_pending', 'scheduled', 'unknown_outcome', 'uploading'"
)
IN_LINE = "'awaiting_slot', 'processing', 'retry_pending', 'scheduled', 'unknown_outcome'"
ON_A_JOB = "'processing', 'unknown_outcome', 'uploading'"
OUTCOMES = (
    "'accepted', 'capped', 'failed', 'interrupted', 'lost', 'not_found', 'pending', "
    "'published', 'reconnect', 'retryable', 'unknown'"
)
KINDS = "'notice', 'publish', 'reconcile'"
TYPES = (
    "'content.assigned', 'content.moved', 'content.released', 'upload.retrying', "
    "'upload.published', 'upload.failed', 'upload.cancelled', 'webhook.endpoint_disabled', "
    "'upload.processing', 'account.reconnect_required', 'account.reconnected'"
)

OLD_STATES = (
    "'scheduled', 'uploading', 'retry_pending', 'unknown_outcome', 'awaiting_slot', "
    "'uploaded', 'failed', 'removed'"
)
OLD_SLOT_HOLDING = "'awaiting_slot', 'retry_pending', 'scheduled', 'unknown_outcome', 'uploading'"
OLD_IN_LINE = "'awaiting_slot', 'retry_pending', 'scheduled', 'unknown_outcome'"
OLD_OUTCOMES = (
    "'accepted', 'failed', 'interrupted', 'lost', 'not_found', 'pending', 'published', "
    "'retryable', 'unknown'"
)
OLD_KINDS = "'publish', 'reconcile'"
OLD_TYPES = (
    "'content.assigned', 'content.moved', 'content.released', 'upload.retrying', "
    "'upload.published', 'upload.failed', 'upload.cancelled', 'webhook.endpoint_disabled'"
)


def _states(states: str, slot_holding: str, in_line: str) -> str:
    return f"""
        alter table contents add constraint contents_status_check
            check (status in ({states}));
        create unique index contents_one_active_per_slot
            on contents (profile_id, platform, scheduled_at)
            where status in ({slot_holding});
        create index contents_due on contents ((coalesce(next_retry_at, scheduled_at)))
            where status in ({in_line});
    """


def _checks(outcomes: str, kinds: str, types: str) -> str:
    return f"""
        alter table upload_attempts add constraint upload_attempts_outcome_check
            check (outcome in ({outcomes}));
        alter table upload_attempts add constraint upload_attempts_kind_check
            check (kind in ({kinds}));
        alter table events add constraint events_type_check check (type in ({types}));
    """


_DROP = """
        alter table contents drop constraint contents_status_check;
        drop index contents_one_active_per_slot;
        drop index contents_due;
        alter table upload_attempts drop constraint upload_attempts_outcome_check;
        alter table upload_attempts drop constraint upload_attempts_kind_check;
        alter table events drop constraint events_type_check;
"""


def upgrade() -> None:
    op.execute(_DROP)
    op.execute("""
        update contents c set status = 'processing'
         where c.status = 'unknown_outcome'
           and (select a.outcome from upload_attempts a
                 where a.content_id = c.content_id and a.kind = 'publish'
                 order by a.number desc limit 1) = 'accepted';
    """)
    op.execute(_states(STATES, SLOT_HOLDING, IN_LINE))
    op.execute(_checks(OUTCOMES, KINDS, TYPES))
    op.execute(f"""
        create table accounts (
            profile_id        uuid not null references profiles on delete cascade,
            platform          text not null,
            reconnect_since   timestamptz,           -- null: nothing says it must be reconnected
            reconnect_reason  text not null default '',
            reconnect_source  text not null default '',
            word_at           timestamptz,           -- the latest word on its connection
            capped_until      timestamptz,           -- its daily cap is full until then
            cap_reason        text not null default '',
            primary key (profile_id, platform)
        );
        -- The claims' "is this account held?" test, and the gauge of accounts to reconnect.
        create index accounts_held on accounts (profile_id, platform)
            where reconnect_since is not null or capped_until is not null;

        -- Upload-Post's word on a job finds its content among the few that wait on one.
        create index contents_on_a_job on contents (content_id) where status in ({ON_A_JOB});

        create table upload_post_notices (
            job_id            text primary key,
            received_at       timestamptz not null,
            success           boolean not null,
            post_url          text not null default '',
            platform_post_id  text not null default '',
            error             text not null default '',
            body              jsonb not null
        );
        create index upload_post_notices_by_time on upload_post_notices (received_at);

        alter table paused_keys add column paused_by text not null default '';
        alter table paused_keys add column reason text not null default '';
    """)


def downgrade() -> None:
    op.execute("""
        alter table paused_keys drop column reason;
        alter table paused_keys drop column paused_by;
        drop table upload_post_notices;
        drop index contents_on_a_job;
        drop table accounts;
    """)
    op.execute(_DROP)
    op.execute("""
        update contents set status = 'unknown_outcome' where status = 'processing';
        delete from events where type in
            ('upload.processing', 'account.reconnect_required', 'account.reconnected');
        update upload_attempts set kind = 'reconcile' where kind = 'notice';
        update upload_attempts set outcome = 'retryable' where outcome in ('reconnect', 'capped');
    """)
    op.execute(_states(OLD_STATES, OLD_SLOT_HOLDING, OLD_IN_LINE))
    op.execute(_checks(OLD_OUTCOMES, OLD_KINDS, OLD_TYPES))
