"""Pacing to Upload-Post's limits: the request log every Uploader replica shares (the plan's rate
and each profile's posting rate), the API's own word on when to send again, and an index for
counting a (profile, platform)'s publications in a rolling day (daily caps).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- One row per request sent (or about to be sent) to Upload-Post, by any replica. A
        -- replica counts the last minute's rows before it sends; a row ages out by itself, so a
        -- replica that dies holding budget leaks nothing.
        create table upload_post_requests (
            sent_at          timestamptz not null,
            upload_post_user text,          -- set for posts: the per-profile rate counts them
            kind             text not null check (kind in ('post', 'look_up')),
            worker           text not null
        );
        create index upload_post_requests_by_time on upload_post_requests (sent_at);
        create index upload_post_requests_posts_by_user
            on upload_post_requests (upload_post_user, sent_at) where kind = 'post';

        -- What Upload-Post said last about sending: nothing before `blocked_until`
        -- (X-RateLimit-Remaining reached 0, or a 429 for the plan's rate).
        create table upload_post_pause (
            singleton     boolean primary key default true check (singleton),
            blocked_until timestamptz not null,
            reason        text not null default ''
        );

        create index contents_published_by_key on contents (profile_id, platform, uploaded_at)
            where status = 'uploaded';
    """)


def downgrade() -> None:
    op.execute("""
        drop index contents_published_by_key;
        drop table upload_post_pause;
        drop table upload_post_requests;
    """)
