"""Every kind of post: a content's media list, first comment, alt text and revision; Reddit and
Bluesky.

- `contents.media`: the post's items in order, `[{"url": "...", "type": "photo"|"video"}]`,
  `[]` for a text post. Existing rows are not rewritten (on a long history that would be a
  full-table update, every row locked and written again, in the release's transaction): their
  `[]` beside a `media_url` means that one URL, and both services read it so. `media_url` stays
  written (the first item's url) for readers that know only it.
- `contents.first_comment`, `contents.alt_text`: the common options that have their own
  Upload-Post form fields.
- `contents.revision`: 1 when assigned, +1 on each UpdateContent that changed something; a
  caller's `expected_revision` is checked against it.
- `platform_options` keeps its column and now holds Upload-Post's wire form
  (`{field: string | [string, ...]}`); nothing to migrate (old rows keep what they held).
- The platforms 'reddit' and 'bluesky' in the `platform` CHECK constraints, and the event type
  'content.updated'.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Literal lists, as migrations must have: each equals its set in the code at this revision
# (tests/test_platforms.py and tests/test_stored_values.py keep them equal).
PLATFORMS = (
    "'tiktok', 'instagram', 'youtube', 'facebook', 'linkedin', 'x', 'threads', 'pinterest', "
    "'reddit', 'bluesky'"
)
OLD_PLATFORMS = (
    "'tiktok', 'instagram', 'youtube', 'facebook', 'linkedin', 'x', 'threads', 'pinterest'"
)
TYPES = (
    "'content.assigned', 'content.moved', 'content.released', 'upload.retrying', "
    "'upload.published', 'upload.failed', 'upload.cancelled', 'webhook.endpoint_disabled', "
    "'upload.processing', 'account.reconnect_required', 'account.reconnected', "
    "'content.updated'"
)
OLD_TYPES = (
    "'content.assigned', 'content.moved', 'content.released', 'upload.retrying', "
    "'upload.published', 'upload.failed', 'upload.cancelled', 'webhook.endpoint_disabled', "
    "'upload.processing', 'account.reconnect_required', 'account.reconnected'"
)
# The tables whose `platform` column is CHECKed (the others take it from these).
CHECKED_TABLES = ("schedules", "contents")


def _checks(platforms: str, types: str) -> str:
    return "\n".join(
        [
            *(
                f"alter table {table} drop constraint {table}_platform_check;"
                f" alter table {table} add constraint {table}_platform_check"
                f" check (platform in ({platforms}));"
                for table in CHECKED_TABLES
            ),
            "alter table events drop constraint events_type_check;",
            f"alter table events add constraint events_type_check check (type in ({types}));",
        ]
    )


def upgrade() -> None:
    op.execute(_checks(PLATFORMS, TYPES))
    op.execute("""
        alter table contents add column media jsonb not null default '[]';
        alter table contents add column first_comment text not null default '';
        alter table contents add column alt_text text not null default '';
        alter table contents add column revision bigint not null default 1;
    """)


def downgrade() -> None:
    # What only this revision can hold goes: Reddit and Bluesky contents and schedules (and what
    # hangs on them), content.updated events. A multi-item content keeps its first item, which
    # media_url already holds.
    op.execute("""
        delete from events where type = 'content.updated'
            or platform in ('reddit', 'bluesky');
        delete from upload_attempts where content_id in
            (select content_id from contents where platform in ('reddit', 'bluesky'));
        delete from upload_successes where content_id in
            (select content_id from contents where platform in ('reddit', 'bluesky'));
        delete from contents where platform in ('reddit', 'bluesky');
        delete from schedules where platform in ('reddit', 'bluesky');
        alter table contents drop column revision;
        alter table contents drop column alt_text;
        alter table contents drop column first_comment;
        alter table contents drop column media;
    """)
    op.execute(_checks(OLD_PLATFORMS, OLD_TYPES))
