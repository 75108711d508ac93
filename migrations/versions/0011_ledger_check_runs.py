"""``ledger_checks``: every run of the ledger reconciliation (``okane ledger check``, run on a
schedule by the chart's CronJob) records when it finished and what it found, so the services can
export the last result as metrics and an alert can page when violations appear or the check
stops running.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE ledger_checks (
            id bigint GENERATED ALWAYS AS IDENTITY,
            finished_at timestamptz NOT NULL DEFAULT now(),
            violations integer NOT NULL,
            checks integer NOT NULL,
            summary jsonb NOT NULL,
            CONSTRAINT pk_ledger_checks PRIMARY KEY (id),
            CONSTRAINT ck_ledger_checks_counts CHECK (violations >= 0 AND checks >= 0)
        )
        """
    )
    op.execute("CREATE INDEX ix_ledger_checks_finished_at ON ledger_checks (finished_at)")


def downgrade() -> None:
    op.execute("DROP TABLE ledger_checks")
