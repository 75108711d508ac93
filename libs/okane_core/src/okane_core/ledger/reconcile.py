"""Reconciliation: check every ledger invariant over the whole database.

Run by ``okane ledger check`` and by the tests after every concurrency run. It reads one
consistent snapshot (REPEATABLE READ), so it can run beside live traffic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.ledger.book import LIMIT_TIMEZONE

# Each check is a query returning the violating rows as (subject, detail); at most LIMIT each.
LIMIT = 100

_CHECKS: dict[str, str] = {
    "postings_sum_to_zero": """
        SELECT 'all postings', 'sum is ' || sum(amount) FROM postings HAVING sum(amount) <> 0
    """,
    "transaction_balanced": """
        SELECT transaction_id::text, 'postings sum to ' || sum(amount)
        FROM postings GROUP BY transaction_id HAVING sum(amount) <> 0 LIMIT :limit
    """,
    "account_matches_postings": """
        SELECT a.id::text, 'available + locked = ' || (a.available + a.locked)
               || ' but postings sum to ' || coalesce(p.total, 0)
        FROM accounts a
        LEFT JOIN (SELECT account_id, sum(amount) AS total FROM postings GROUP BY account_id) p
               ON p.account_id = a.id
        WHERE a.available + a.locked <> coalesce(p.total, 0) LIMIT :limit
    """,
    "daily_counter_matches_transactions": """
        SELECT a.id::text, 'counted ' || a.out_spent || ' sent on ' || a.out_day
               || ' but its transactions of that day sum to ' || coalesce(s.total, 0)
        FROM accounts a
        LEFT JOIN LATERAL (
            SELECT sum(t.amount) AS total FROM transactions t
            WHERE t.debit_account_id = a.id AND t.kind IN ('p2p', 'withdrawal')
              AND t.status <> 'failure'
              AND t.created_at >= a.out_day::timestamp AT TIME ZONE :timezone
              AND t.created_at < (a.out_day + 1)::timestamp AT TIME ZONE :timezone
        ) s ON true
        WHERE a.out_day IS NOT NULL AND a.out_spent <> coalesce(s.total, 0) LIMIT :limit
    """,
    "wallet_not_negative": """
        SELECT id::text, 'available ' || available || ', locked ' || locked
        FROM accounts WHERE kind = 'wallet' AND (available < 0 OR locked < 0) LIMIT :limit
    """,
    "locked_equals_pending_withdrawals": """
        SELECT a.id::text, 'locked ' || a.locked || ' but pending withdrawals hold '
               || coalesce(w.held, 0)
        FROM accounts a
        LEFT JOIN (SELECT debit_account_id, sum(amount) AS held FROM transactions
                   WHERE kind = 'withdrawal' AND status IN ('processing', 'unknown')
                   GROUP BY debit_account_id) w ON w.debit_account_id = a.id
        WHERE a.locked <> coalesce(w.held, 0) LIMIT :limit
    """,
    "postings_match_transaction": """
        SELECT t.id::text, t.status || ' ' || t.kind || ' has ' || coalesce(p.lines, 0)
               || ' postings that do not move ' || t.amount || ' from debit to credit'
        FROM transactions t
        LEFT JOIN (SELECT transaction_id, count(*) AS lines,
                          sum(amount) FILTER (WHERE amount < 0) AS out_sum,
                          sum(amount) FILTER (WHERE amount > 0) AS in_sum,
                          min(account_id) FILTER (WHERE amount < 0) AS out_acct,
                          min(account_id) FILTER (WHERE amount > 0) AS in_acct
                   FROM postings GROUP BY transaction_id) p ON p.transaction_id = t.id
        WHERE (t.status = 'success' AND (p.lines = 2 AND p.out_sum = -t.amount
                 AND p.in_sum = t.amount AND p.out_acct = t.debit_account_id
                 AND p.in_acct = t.credit_account_id) IS NOT TRUE)
           OR (t.status <> 'success' AND p.lines IS NOT NULL)
        LIMIT :limit
    """,
    "posting_currency_matches_account": """
        SELECT p.id::text, 'posting in ' || p.currency || ' on an account in ' || a.currency
        FROM postings p JOIN accounts a ON a.id = p.account_id
        WHERE p.currency <> a.currency LIMIT :limit
    """,
    "reversal_mirrors_original": """
        SELECT r.id::text, 'reverses ' || r.reverses_id || ' which is not its mirror image'
        FROM transactions r JOIN transactions o ON o.id = r.reverses_id
        WHERE r.kind = 'reversal' AND (o.status = 'success' AND o.kind <> 'reversal'
              AND r.amount = o.amount AND r.debit_account_id = o.credit_account_id
              AND r.credit_account_id = o.debit_account_id) IS NOT TRUE
        LIMIT :limit
    """,
    "idempotency_key_owner": """
        SELECT k.user_id || '/' || k.key, 'points at a transaction started by someone else'
        FROM idempotency_keys k JOIN transactions t ON t.id = k.transaction_id
        WHERE t.initiator_id IS DISTINCT FROM k.user_id LIMIT :limit
    """,
    "expired_still_processing": """
        SELECT id::text, 'processing ' || (now() - expires_at) || ' past its deadline'
        FROM transactions WHERE status = 'processing' AND expires_at < now() - interval '1 hour'
        LIMIT :limit
    """,
}

_COUNTS = """
    SELECT (SELECT count(*) FROM accounts) AS accounts,
           (SELECT count(*) FROM transactions) AS transactions,
           (SELECT count(*) FROM postings) AS postings,
           (SELECT count(*) FROM idempotency_keys) AS idempotency_keys
"""


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    subject: str
    detail: str


@dataclass(slots=True)
class ReconciliationReport:
    checked: dict[str, int] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> dict[str, Any]:
        return {
            "violations": len(self.violations),
            "checks": len(self.checks),
            **self.checked,
            "details": [asdict(v) for v in self.violations],
        }


async def reconcile(session: AsyncSession) -> ReconciliationReport:
    """Check every invariant in one snapshot. The session must not have started a transaction
    with another isolation level."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    report = ReconciliationReport()
    counts = (await session.execute(text(_COUNTS))).one()
    report.checked = {key: int(value) for key, value in counts._mapping.items()}
    for name, sql in _CHECKS.items():
        report.checks.append(name)
        rows = await session.execute(text(sql), {"limit": LIMIT, "timezone": LIMIT_TIMEZONE})
        report.violations.extend(Violation(name, str(s), str(d)) for s, d in rows)
    return report
