"""Admin power that is checked: a manual money movement (a reversal) is a request that a
second admin approves (maker-checker, also enforced here: the approver is never the
requester), and every admin act lands in an append-only audit log.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE admin_requests (
            id uuid NOT NULL,
            action text NOT NULL,
            transaction_id uuid NOT NULL,
            note text,
            requested_by uuid NOT NULL,
            requested_at timestamptz NOT NULL DEFAULT now(),
            status text NOT NULL DEFAULT 'pending',
            decided_by uuid,
            decided_at timestamptz,
            result_id uuid,
            CONSTRAINT pk_admin_requests PRIMARY KEY (id),
            CONSTRAINT fk_admin_requests_transaction_id_transactions
                FOREIGN KEY (transaction_id) REFERENCES transactions (id),
            CONSTRAINT fk_admin_requests_requested_by_users
                FOREIGN KEY (requested_by) REFERENCES users (id),
            CONSTRAINT fk_admin_requests_decided_by_users
                FOREIGN KEY (decided_by) REFERENCES users (id),
            CONSTRAINT fk_admin_requests_result_id_transactions
                FOREIGN KEY (result_id) REFERENCES transactions (id),
            CONSTRAINT ck_admin_requests_action CHECK (action IN ('reversal')),
            CONSTRAINT ck_admin_requests_status
                CHECK (status IN ('pending', 'approved', 'rejected')),
            CONSTRAINT ck_admin_requests_second_admin
                CHECK (decided_by IS NULL OR decided_by <> requested_by),
            CONSTRAINT ck_admin_requests_decided
                CHECK ((status = 'pending') = (decided_at IS NULL))
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_admin_requests_pending ON admin_requests "
        "(action, transaction_id) WHERE status = 'pending'"
    )
    op.execute("CREATE INDEX ix_admin_requests_requested_at ON admin_requests (requested_at)")
    op.execute(
        """
        CREATE TABLE audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY,
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            action text NOT NULL,
            subject text NOT NULL,
            detail jsonb NOT NULL DEFAULT '{}'::jsonb,
            CONSTRAINT pk_audit_log PRIMARY KEY (id)
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION okane_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION okane_audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION okane_audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_log")
    op.execute("DROP FUNCTION IF EXISTS okane_audit_log_append_only()")
    op.execute("DROP TABLE IF EXISTS admin_requests")
