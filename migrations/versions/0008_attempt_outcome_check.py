"""Checks `upload_attempts.outcome` against the values the Uploader writes (Upload-Post's answers
as uploader.outcomes.Outcome sorts them, and the two ends without an answer, lost and
interrupted), as the attempt's `kind` and a request's `kind` are checked already: a value added
in code and not here fails loudly at its first write, not silently in a report. Every value the
code ever wrote is in the list, so existing rows pass; the check reads the table once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# A literal list, as migrations must have: it equals uploader.domain.AttemptOutcome at this
# revision, and tests/test_stored_values.py keeps the two equal.
OUTCOMES = (
    "'accepted', 'failed', 'interrupted', 'lost', 'not_found', 'pending', 'published', "
    "'retryable', 'unknown'"
)


def upgrade() -> None:
    op.execute(f"""
        alter table upload_attempts add constraint upload_attempts_outcome_check
            check (outcome in ({OUTCOMES}));
    """)


def downgrade() -> None:
    op.execute("alter table upload_attempts drop constraint upload_attempts_outcome_check;")
