"""A version for each schedule's slots, so an Allocator replica reads a schedule's slots only when
they changed since it last read them (it keeps the parsed slots of the keys it serves).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- Raised by every SetSchedule (the only writer of schedule_slots), in its transaction.
        alter table schedules add column slots_version bigint not null default 1;
    """)


def downgrade() -> None:
    op.execute("alter table schedules drop column slots_version;")
