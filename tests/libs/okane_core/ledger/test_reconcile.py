"""Reconciliation finds what is wrong, and ``okane ledger check`` reports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from sqlalchemy import text

from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import topups
from okane_core.ledger.book import Ledger
from okane_core.ledger.reconcile import reconcile
from tests.factories import fund, make_user


async def violations(sessions: SessionFactory) -> set[str]:
    async with sessions() as s, s.begin():
        report = await reconcile(s)
    assert report.checked["accounts"] >= 2
    return {v.check for v in report.violations}


async def corrupt(sessions: SessionFactory, sql: str) -> None:
    async with sessions() as s, s.begin():
        await s.execute(text(sql))


async def test_clean_ledger_has_no_violations(sessions: SessionFactory, ledger: Ledger) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 300)
    assert await violations(sessions) == set()


async def test_balance_drift_is_found(sessions: SessionFactory, ledger: Ledger) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 300)
    # Money from nowhere: a balance changed without postings (the original's sign-up bonus).
    await corrupt(sessions, "UPDATE accounts SET available = available + 1 WHERE kind = 'wallet'")
    assert await violations(sessions) == {"account_matches_postings"}


async def test_a_hold_without_a_withdrawal_is_found(
    sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 300)
    await corrupt(
        sessions,
        "UPDATE accounts SET available = available - 50, locked = 50 WHERE kind = 'wallet'",
    )
    assert await violations(sessions) == {"locked_equals_pending_withdrawals"}


async def test_success_without_postings_is_found(sessions: SessionFactory, ledger: Ledger) -> None:
    user = await make_user(sessions, ledger)
    view, _ = await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(ledger, s, user_id=user.id, amount=10, idempotency_key="k"),
    )
    await corrupt(
        sessions,
        f"UPDATE transactions SET status = 'success', settled_at = now() WHERE id = '{view.id}'",
    )
    assert await violations(sessions) == {"postings_match_transaction"}


def run_check(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OKANE_DATABASE_URL": database_url, "OKANE_REDIS_URL": "redis://unused"}
    return subprocess.run(
        [sys.executable, "-m", "okane_core.cli", "ledger", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_reports_json_and_exit_status(
    database_url: str, sessions: SessionFactory, ledger: Ledger
) -> None:
    user = await make_user(sessions, ledger)
    await fund(sessions, ledger, user.id, 300)
    clean = run_check(database_url)
    assert clean.returncode == 0, clean.stderr
    summary = json.loads(clean.stdout.strip().splitlines()[-1])
    assert summary["violations"] == 0
    assert summary["transactions"] == 1
    await corrupt(sessions, f"UPDATE accounts SET locked = 7 WHERE user_id = '{user.id}'")
    dirty = run_check(database_url)
    assert dirty.returncode == 1
    lines = dirty.stdout.strip().splitlines()
    assert json.loads(lines[-1])["violations"] >= 1
    assert any(line.startswith("VIOLATION") for line in lines)
    assert str(uuid.UUID(int=0)) not in dirty.stdout
