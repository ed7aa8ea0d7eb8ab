"""Alembic's entry point: runs the migrations under an advisory lock, so two `queuelabs migrate`
started at once apply them one after the other (the second finds nothing left to do)."""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

# Any constant works; it only has to differ from the keys the Allocator locks (see allocator.locks).
MIGRATION_LOCK_KEY = 0x5155454C4D494752  # "QUELMIGR"

database_url: str = context.config.attributes["database_url"]
# The URL is libpq's form, handed to psycopg untouched (sockets, options and all).
engine = create_engine(
    "postgresql+psycopg://",
    # No server-side prepared statements: migrations run behind PgBouncer too.
    creator=lambda: psycopg.connect(database_url, prepare_threshold=None),
    poolclass=NullPool,
)

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()
