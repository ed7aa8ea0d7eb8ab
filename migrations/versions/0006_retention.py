"""Retention: finished contents found by when they finished, so `queuelabs prune` reads only the
ones past the retention period, however long the history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# A literal list, as migrations must have: it equals FINISHED in queuelabs/lifecycle.py at this
# revision (tests/test_retention.py checks).
FINISHED = "'failed', 'removed', 'uploaded'"


def upgrade() -> None:
    op.execute(f"""
        create index contents_finished
            on contents ((coalesce(uploaded_at, removed_at, updated_at)))
            where status in ({FINISHED});
    """)


def downgrade() -> None:
    op.execute("drop index contents_finished;")
