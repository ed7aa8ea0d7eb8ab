"""The Uploader: claims with leases, attempts, the success record, paused profiles.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        alter table contents
            add column lease_owner            text,
            add column lease_expires_at       timestamptz,
            add column upload_now             boolean not null default false, -- even if late
            -- Part of the Idempotency-Key; moves on only once Upload-Post has said the job
            -- under the current key ended without publishing.
            add column idempotency_generation integer not null default 1,
            add column post_url               text not null default '',
            add column uploaded_at            timestamptz;

        -- What the scheduling loop looks for. A content is due for the uploader at
        -- next_retry_at when set (a retry, a reconciliation, UploadNow), else at its slot.
        create index contents_due on contents ((coalesce(next_retry_at, scheduled_at)))
            where status in ('scheduled', 'retry_pending', 'unknown_outcome');
        create index contents_leases on contents (lease_expires_at)
            where status = 'uploading';

        create table upload_attempts (
            content_id      uuid not null references contents,
            number          integer not null,
            kind            text not null check (kind in ('publish', 'reconcile')),
            request_id      text not null,  -- ours, chosen and stored before the call
            upstream_request_id text,       -- Upload-Post's, when it answered with another
            idempotency_key text not null,
            worker          text not null,
            started_at      timestamptz not null,
            finished_at     timestamptz,
            outcome         text,          -- null while the call is in flight
            http_status     integer,
            error           text not null default '',
            primary key (content_id, number)
        );
        create index upload_attempts_by_request on upload_attempts (request_id);

        -- Invariant 4: one success per (content, platform), whatever else goes wrong.
        create table upload_successes (
            content_id       uuid not null references contents,
            platform         text not null,
            request_id       text not null,
            post_url         text not null default '',
            platform_post_id text not null default '',
            uploaded_at      timestamptz not null
        );
        create unique index upload_successes_one_per_content
            on upload_successes (content_id, platform);

        create table paused_keys (
            profile_id uuid not null references profiles,
            platform   text not null,
            paused_at  timestamptz not null,
            primary key (profile_id, platform)
        );
    """)


def downgrade() -> None:
    op.execute("""
        drop table paused_keys;
        drop table upload_successes;
        drop table upload_attempts;
        drop index contents_leases;
        drop index contents_due;
        alter table contents
            drop column uploaded_at, drop column post_url, drop column idempotency_generation,
            drop column upload_now, drop column lease_expires_at, drop column lease_owner;
    """)
