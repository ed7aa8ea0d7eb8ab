"""Profiles, schedules, the free-slot inventory and contents.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PLATFORMS = "'tiktok', 'instagram', 'youtube', 'facebook', 'linkedin', 'x', 'threads', 'pinterest'"
STATES = (
    "'scheduled', 'uploading', 'retry_pending', 'unknown_outcome', "
    "'uploaded', 'failed', 'cancelled', 'removed'"
)
# Equalled queuelabs.lifecycle.SLOT_HOLDING at this revision; 0003 changed it.
SLOT_HOLDING = "'retry_pending', 'scheduled', 'unknown_outcome', 'uploading'"


def upgrade() -> None:
    op.execute(f"""
        create table profiles (
            profile_id       uuid primary key,
            name             text not null,
            upload_post_user text not null,
            timezone         text not null,
            created_at       timestamptz not null default now(),
            updated_at       timestamptz not null default now()
        );

        -- One row per (profile, platform) that has a schedule. free_slots holds every free slot
        -- instant of it up to materialized_until, computed in inventory_timezone; when the
        -- profile's timezone differs, the inventory is stale and is rebuilt.
        create table schedules (
            profile_id         uuid not null references profiles on delete cascade,
            platform           text not null check (platform in ({PLATFORMS})),
            materialized_until timestamptz not null,
            inventory_timezone text,
            updated_at         timestamptz not null default now(),
            primary key (profile_id, platform)
        );

        create table schedule_slots (
            profile_id uuid not null,
            platform   text not null,
            local_time time not null,
            slot_id    uuid not null,
            weekdays   smallint[] not null default '{{}}',  -- ISO 1..7; empty = every day
            primary key (profile_id, platform, local_time),
            foreign key (profile_id, platform) references schedules on delete cascade
        );

        -- The allocation inventory: slot instants known to be free. Taking the earliest one is
        -- an index probe, whatever the queue depth. Contents stays the source of truth.
        create table free_slots (
            profile_id   uuid not null,
            platform     text not null,
            scheduled_at timestamptz not null,
            slot_id      uuid not null,
            primary key (profile_id, platform, scheduled_at),
            foreign key (profile_id, platform) references schedules on delete cascade
        );

        create table contents (
            content_id       uuid primary key,
            profile_id       uuid not null references profiles,
            platform         text not null check (platform in ({PLATFORMS})),
            status           text not null check (status in ({STATES})),
            slot_id          uuid not null,
            scheduled_at     timestamptz not null,
            media_type       text not null check (media_type in ('video', 'photo', 'text')),
            media_url        text not null default '',
            title            text not null default '',
            description      text not null default '',
            platform_options jsonb not null default '{{}}',
            retry_count      integer not null default 0,
            next_retry_at    timestamptz,
            reschedule_count integer not null default 0,
            status_reason    text not null default '',
            created_at       timestamptz not null default now(),
            updated_at       timestamptz not null default now(),
            removed_at       timestamptz
        );

        -- Invariant 1, last line of defence: one slot-holding content per slot instant.
        create unique index contents_one_active_per_slot
            on contents (profile_id, platform, scheduled_at)
            where status in ({SLOT_HOLDING});

        create index contents_by_profile_time on contents (profile_id, platform, scheduled_at);
    """)


def downgrade() -> None:
    op.execute("""
        drop table contents;
        drop table free_slots;
        drop table schedule_slots;
        drop table schedules;
        drop table profiles;
    """)
