"""Durable cache invalidations and security state in PostgreSQL.

``cache_outbox``: every change of a wallet's or a profile's version writes a row in the same
transaction (statement triggers, so every write path is covered, including the transfer
function and a hand-written fix). Rows are drained by every process: tombstone in Redis, then
delete; until then readers compare the cached entry's version with the pending one (see
``okane_core/cache/lease.py``).

``rate_limits``: fixed-window counters of login attempts and look-ups, so they survive cache
eviction and Redis restarts.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OUTBOX = """
CREATE TABLE cache_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY,
    user_id uuid NOT NULL,
    kind text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_cache_outbox PRIMARY KEY (id),
    CONSTRAINT ck_cache_outbox_kind CHECK (kind IN ('wallet', 'profile'))
);

CREATE FUNCTION okane_outbox_wallets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_outbox (user_id, kind, version)
    SELECT n.user_id, 'wallet', n.version
      FROM okane_new n JOIN okane_old o ON o.id = n.id
     WHERE n.user_id IS NOT NULL AND n.version <> o.version;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_cache_outbox AFTER UPDATE ON accounts
    REFERENCING OLD TABLE AS okane_old NEW TABLE AS okane_new
    FOR EACH STATEMENT EXECUTE FUNCTION okane_outbox_wallets();

CREATE FUNCTION okane_outbox_profiles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_outbox (user_id, kind, version)
    SELECT n.id, 'profile', n.version
      FROM okane_new n JOIN okane_old o ON o.id = n.id
     WHERE n.version <> o.version;
    RETURN NULL;
END $$;

CREATE TRIGGER users_cache_outbox AFTER UPDATE ON users
    REFERENCING OLD TABLE AS okane_old NEW TABLE AS okane_new
    FOR EACH STATEMENT EXECUTE FUNCTION okane_outbox_profiles();

CREATE TABLE rate_limits (
    key text NOT NULL,
    count integer NOT NULL,
    window_ends timestamptz NOT NULL,
    CONSTRAINT pk_rate_limits PRIMARY KEY (key)
);
CREATE INDEX ix_rate_limits_window_ends ON rate_limits (window_ends);
CREATE INDEX ix_auth_sessions_revoked_at ON auth_sessions (revoked_at)
    WHERE revoked_at IS NOT NULL;
"""


def upgrade() -> None:
    op.execute(OUTBOX)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_auth_sessions_revoked_at")
    op.execute("DROP TABLE IF EXISTS rate_limits")
    op.execute("DROP TRIGGER IF EXISTS users_cache_outbox ON users")
    op.execute("DROP FUNCTION IF EXISTS okane_outbox_profiles()")
    op.execute("DROP TRIGGER IF EXISTS accounts_cache_outbox ON accounts")
    op.execute("DROP FUNCTION IF EXISTS okane_outbox_wallets()")
    op.execute("DROP TABLE IF EXISTS cache_outbox")
