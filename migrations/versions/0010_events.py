"""Adds `events`: the one log of what happened to each content (and to webhook endpoints),
written by both services in the same transaction as the change it tells of (a transactional
outbox).

Its order is (xid, seq): the writing transaction's id, then the row's place within it. A reader
only takes rows whose transaction is older than every transaction still running
(pg_snapshot_xmin), so a row that commits late with a low number is never skipped: rows numbered
by a plain sequence commit out of order, and a reader that remembers "the highest number seen"
loses the late ones. The cursor callers see is (xid, seq), written as one opaque string.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Written out here, not imported: a migration stays as it was written (queuelabs/events.py
# holds the same list, and tests/test_stored_values.py holds the two equal).
TYPES = (
    "content.assigned",
    "content.moved",
    "content.released",
    "upload.retrying",
    "upload.published",
    "upload.failed",
    "upload.cancelled",
    "webhook.endpoint_disabled",
)


def upgrade() -> None:
    types = ", ".join(f"'{t}'" for t in TYPES)
    op.execute(f"""
        create table events (
            xid         xid8 not null default pg_current_xact_id(),
            seq         bigint generated always as identity,
            event_id    uuid not null default gen_random_uuid(),
            type        text not null constraint events_type_check check (type in ({types})),
            occurred_at timestamptz not null,
            content_id  uuid,
            profile_id  uuid,
            platform    text,
            data        jsonb not null default '{{}}',
            primary key (xid, seq)
        );
        -- Retention (older than N days) and ListUploads' "changed since" by time.
        create index events_by_time on events (occurred_at);
        -- ListUploads' "changed after a cursor": a content's newest event.
        create index events_by_content on events (content_id, xid, seq);
    """)


def downgrade() -> None:
    op.execute("drop table events;")
