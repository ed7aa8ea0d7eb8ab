"""Adds the webhook tables: `webhook_endpoints` (where signed calls go, which events, the secret
and a rotated-out one still signing, and `planned_xid`/`planned_seq`: how far in the event log
this endpoint's deliveries have been planned), `webhook_deliveries` (one event owed to one
endpoint: the body signed on every try, how many tries, when the next is due, who holds it), and
`webhook_attempts` (every try, for an operator).

A delivery row is written in the same transaction that moves its endpoint's cursor past the
event, so an event is planned once per endpoint, and only once it has committed (the log's
ordering rule: see 0010). A sender claims due rows FOR UPDATE SKIP LOCKED and moves their
`next_attempt_at` to the end of its lease: should it die mid-call, the row is simply due again
then, and is sent again under the same event id (at least once).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        create table webhook_endpoints (
            endpoint_id                uuid primary key,
            url                        text not null,
            types                      text[] not null default '{}',
            profile_ids                uuid[] not null default '{}',
            description                text not null default '',
            -- As given to the receiver (whsec_...): it must sign. Never logged, never listed.
            secret                     text not null,
            previous_secret            text,
            previous_secret_expires_at timestamptz,
            created_at                 timestamptz not null,
            disabled_at                timestamptz,
            disabled_reason            text not null default '',
            planned_xid                xid8 not null,
            planned_seq                bigint not null,
            -- The failures in a row, and since when: N of them over a day disable the endpoint.
            failures_in_a_row          integer not null default 0,
            failing_since              timestamptz
        );
        create table webhook_deliveries (
            endpoint_id      uuid not null
                             references webhook_endpoints on delete cascade,
            event_xid        xid8 not null,
            event_seq        bigint not null,
            event_id         uuid not null,
            body             text not null,
            attempts         integer not null default 0,
            next_attempt_at  timestamptz not null,
            lease_owner      text,
            lease_expires_at timestamptz,
            delivered_at     timestamptz,
            given_up_at      timestamptz,
            primary key (endpoint_id, event_xid, event_seq)
        );
        -- What a sender claims: the deliveries still owed, by when they fall due.
        create index webhook_deliveries_owed on webhook_deliveries (next_attempt_at)
            where delivered_at is null and given_up_at is null;
        create table webhook_attempts (
            attempt_id   uuid primary key default gen_random_uuid(),
            endpoint_id  uuid not null references webhook_endpoints on delete cascade,
            event_id     uuid not null,
            attempt      integer not null,
            attempted_at timestamptz not null,
            finished_at  timestamptz,
            worker       text not null,
            http_status  integer,
            error        text not null default '',
            delivered    boolean not null default false,
            next_attempt_at timestamptz,
            unique (endpoint_id, event_id, attempt)
        );
        -- The operator's view, newest first, over every endpoint (attempt_id breaks ties).
        create index webhook_attempts_by_time on webhook_attempts (attempted_at, attempt_id);
    """)


def downgrade() -> None:
    op.execute("drop table webhook_attempts, webhook_deliveries, webhook_endpoints;")
