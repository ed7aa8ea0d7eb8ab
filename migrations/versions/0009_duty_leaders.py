"""Adds `duty_leaders`: which Uploader replica runs a duty that needs one runner at a time (the
backlog gauge, so `queuelabs_due_backlog` is reported once, not once per replica), and until
when. A replica takes the row when nobody holds it or its holder's term ran out, and renews it
each turn; a replica that stops lets its term run out. A row, not an advisory lock: a
transaction-scoped lock only keeps out turns that overlap in time, and a session lock does not
survive PgBouncer's transaction pooling.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        create table duty_leaders (
            duty       text primary key,
            holder     text not null,
            expires_at timestamptz not null
        );
    """)


def downgrade() -> None:
    op.execute("drop table duty_leaders;")
