"""Proven contact points: when each user's phone and email were verified, the one-time codes
that verify them (and reset passwords), sign-ups waiting for their phone's code (an account
exists only once its phone is proven), and the notification outbox that delivers codes and
security notices through a pluggable sender.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE users ADD COLUMN phone_verified_at timestamptz")
    op.execute("ALTER TABLE users ADD COLUMN email_verified_at timestamptz")
    op.execute(
        """
        CREATE TABLE one_time_codes (
            id uuid NOT NULL,
            user_id uuid NOT NULL,
            purpose text NOT NULL,
            channel text NOT NULL,
            address text NOT NULL,
            code_hash bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            used_at timestamptz,
            CONSTRAINT pk_one_time_codes PRIMARY KEY (id),
            CONSTRAINT fk_one_time_codes_user_id_users
                FOREIGN KEY (user_id) REFERENCES users (id),
            CONSTRAINT ck_one_time_codes_purpose
                CHECK (purpose IN ('verify', 'password_reset', 'step_up')),
            CONSTRAINT ck_one_time_codes_channel CHECK (channel IN ('phone', 'email'))
        )
        """
    )
    op.execute("CREATE INDEX ix_one_time_codes_user_id ON one_time_codes (user_id)")
    op.execute("CREATE INDEX ix_one_time_codes_expires_at ON one_time_codes (expires_at)")
    op.execute(
        """
        CREATE TABLE notifications (
            id bigint GENERATED ALWAYS AS IDENTITY,
            user_id uuid,
            channel text NOT NULL,
            address text NOT NULL,
            kind text NOT NULL,
            subject text NOT NULL,
            body text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            attempts integer NOT NULL DEFAULT 0,
            CONSTRAINT pk_notifications PRIMARY KEY (id),
            CONSTRAINT fk_notifications_user_id_users
                FOREIGN KEY (user_id) REFERENCES users (id),
            CONSTRAINT ck_notifications_channel CHECK (channel IN ('phone', 'email'))
        )
        """
    )
    op.execute("CREATE INDEX ix_notifications_unsent ON notifications (id) WHERE sent_at IS NULL")
    op.execute("CREATE INDEX ix_notifications_address ON notifications (address)")
    op.execute(
        """
        CREATE TABLE signup_requests (
            id uuid NOT NULL,
            name text NOT NULL,
            phone text NOT NULL,
            email text,
            password_hash text NOT NULL,
            code_hash bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            used_at timestamptz,
            CONSTRAINT pk_signup_requests PRIMARY KEY (id)
        )
        """
    )
    op.execute("CREATE INDEX ix_signup_requests_phone ON signup_requests (phone)")
    op.execute("CREATE INDEX ix_signup_requests_expires_at ON signup_requests (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS signup_requests")
    op.execute("DROP TABLE IF EXISTS notifications")
    op.execute("DROP TABLE IF EXISTS one_time_codes")
    op.execute("ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at")
    op.execute("ALTER TABLE users DROP COLUMN IF EXISTS phone_verified_at")
