"""Bank answers are never lost: a top-up or withdrawal whose deadline passes without the bank's
answer becomes ``unknown`` (a withdrawal keeps its hold) until the bank says what happened,
by a late callback or by the status inquiry the sweeper makes.

``bank_simulator_decisions`` is the simulated bank's own record of what it decided, so it can
answer status inquiries even when its callback was lost.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE transactions DROP CONSTRAINT ck_transactions_status")
    op.execute(
        "ALTER TABLE transactions ADD CONSTRAINT ck_transactions_status "
        "CHECK (status IN ('processing', 'unknown', 'success', 'failure'))"
    )
    op.execute(
        "CREATE INDEX ix_transactions_unknown_updated_at ON transactions (updated_at) "
        "WHERE status = 'unknown'"
    )
    op.execute(
        """
        CREATE TABLE bank_simulator_decisions (
            reference text NOT NULL,
            outcome text NOT NULL,
            decided_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_bank_simulator_decisions PRIMARY KEY (reference),
            CONSTRAINT ck_bank_simulator_decisions_outcome
                CHECK (outcome IN ('succeeded', 'failed'))
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS bank_simulator_decisions")
    op.execute("DROP INDEX IF EXISTS ix_transactions_unknown_updated_at")
    op.execute("UPDATE transactions SET status = 'processing' WHERE status = 'unknown'")
    op.execute("ALTER TABLE transactions DROP CONSTRAINT ck_transactions_status")
    op.execute(
        "ALTER TABLE transactions ADD CONSTRAINT ck_transactions_status "
        "CHECK (status IN ('processing', 'success', 'failure'))"
    )
