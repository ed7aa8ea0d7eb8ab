"""The state "waiting for a new slot" (`awaiting_slot`) made explicit; `cancelled`, never
produced, dropped.

Before this, a content whose retries ran out waited as `retry_pending` with its retry count
pushed past the ladder, and one whose slot was missed waited as `scheduled`; both are moved to
`awaiting_slot` here (recognised by the reason the Uploader stored with them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Literal lists, as migrations must be: later code may change, this step may not. Each must
# equal its set in queuelabs/lifecycle.py at this revision (tests/test_lifecycle.py checks).
STATES = (
    "'scheduled', 'uploading', 'retry_pending', 'unknown_outcome', 'awaiting_slot', "
    "'uploaded', 'failed', 'removed'"
)
SLOT_HOLDING = "'awaiting_slot', 'retry_pending', 'scheduled', 'unknown_outcome', 'uploading'"
IN_LINE = "'awaiting_slot', 'retry_pending', 'scheduled', 'unknown_outcome'"

OLD_STATES = (
    "'scheduled', 'uploading', 'retry_pending', 'unknown_outcome', "
    "'uploaded', 'failed', 'cancelled', 'removed'"
)
OLD_SLOT_HOLDING = "'retry_pending', 'scheduled', 'unknown_outcome', 'uploading'"
OLD_IN_LINE = "'scheduled', 'retry_pending', 'unknown_outcome'"


def upgrade() -> None:
    op.execute(f"""
        alter table contents drop constraint contents_status_check;
        drop index contents_one_active_per_slot;
        drop index contents_due;

        update contents set status = 'removed', removed_at = coalesce(removed_at, updated_at)
         where status = 'cancelled';
        update contents set status = 'awaiting_slot',
                            next_retry_at = coalesce(next_retry_at, now())
         where (status = 'retry_pending' and status_reason like 'gave up after %')
            or (status = 'scheduled' and status_reason like 'missed its slot by %'
                and next_retry_at is not null);

        alter table contents add constraint contents_status_check
            check (status in ({STATES}));
        create unique index contents_one_active_per_slot
            on contents (profile_id, platform, scheduled_at)
            where status in ({SLOT_HOLDING});
        create index contents_due on contents ((coalesce(next_retry_at, scheduled_at)))
            where status in ({IN_LINE});
    """)


def downgrade() -> None:
    op.execute(f"""
        alter table contents drop constraint contents_status_check;
        drop index contents_one_active_per_slot;
        drop index contents_due;
        update contents set status = 'retry_pending' where status = 'awaiting_slot';
        alter table contents add constraint contents_status_check
            check (status in ({OLD_STATES}));
        create unique index contents_one_active_per_slot
            on contents (profile_id, platform, scheduled_at)
            where status in ({OLD_SLOT_HOLDING});
        create index contents_due on contents ((coalesce(next_retry_at, scheduled_at)))
            where status in ({OLD_IN_LINE});
    """)
