"""Drops `upload_attempts_by_request`: no statement reads attempts by request id, and every
attempt paid an insert into it at a random place (a request id is random), on what was the
largest index of a database with a long history (225 MB at 2 million contents). An operator's
search by request id now reads the table (`queuelabs prune` keeps it to the retention period).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("drop index if exists upload_attempts_by_request;")


def downgrade() -> None:
    op.execute("create index upload_attempts_by_request on upload_attempts (request_id);")
