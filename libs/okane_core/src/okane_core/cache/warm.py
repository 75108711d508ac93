"""Cache warming: load the hot set in batches and write it with pipelined, version-checked fills.

Safe beside live traffic: a warm fill is an ordinary fill, so it never replaces a newer entry
and a write's tombstone always wins over it. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from okane_core.cache import codec, keys
from okane_core.cache.reads import CONTACTS_PAGE, HISTORY_PAGE
from okane_core.cache.store import VersionedStore
from okane_core.db.engine import SessionFactory
from okane_core.ledger.repository import history_for_accounts
from okane_core.ledger.views import Wallet
from okane_core.observability import metrics
from okane_core.users.repository import ContactRecord, UserRecord, contacts_for_users

TARGETS = ("balances", "profiles", "contacts", "history")
BATCH = 1000


@dataclass
class WarmSummary:
    targets: dict[str, int] = field(default_factory=dict)  # entries present after the run
    written: dict[str, int] = field(default_factory=dict)  # entries this run stored
    users: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "written": self.written,
            "users": self.users,
            "seconds": round(self.seconds, 3),
        }


def parse_duration(raw: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``7d`` (or a bare number of seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value = raw.strip().lower()
    scale = units.get(value[-1:], 0)
    number = value[:-1] if scale else value
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{raw!r} is not a duration like 30m, 24h or 7d")
    return timedelta(seconds=int(number) * (scale or 1))


async def warm(
    sessions: SessionFactory,
    store: VersionedStore,
    *,
    targets: Sequence[str] = TARGETS,
    users: int | None = None,
    active_within: timedelta | None = None,
    batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> WarmSummary:
    """Warm ``targets`` for the ``users`` most recently active wallets (or all active within
    ``active_within``; or everyone). ``progress(done, total)`` is called after each batch."""
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise ValueError(f"unknown targets {sorted(unknown)}; choose from {', '.join(TARGETS)}")
    started = time.monotonic()
    summary = WarmSummary(targets=dict.fromkeys(targets, 0), written=dict.fromkeys(targets, 0))
    try:
        user_ids = await _hot_users(sessions, users, active_within)
        for start in range(0, len(user_ids), batch):
            chunk = user_ids[start : start + batch]
            await _warm_batch(sessions, store, chunk, targets, summary)
            summary.users += len(chunk)
            if progress is not None:
                progress(summary.users, len(user_ids))
    except Exception:
        metrics.WARM_RUNS.labels("failure").inc()
        raise
    summary.seconds = time.monotonic() - started
    metrics.WARM_RUNS.labels("success").inc()
    metrics.WARM_DURATION.observe(summary.seconds)
    for target, count in summary.written.items():
        metrics.WARM_KEYS.labels(target).inc(count)
    return summary


async def _hot_users(
    sessions: SessionFactory, limit: int | None, active_within: timedelta | None
) -> list[uuid.UUID]:
    sql = "SELECT user_id FROM accounts WHERE kind = 'wallet'"
    params: dict[str, Any] = {}
    if active_within is not None:
        sql += " AND updated_at > now() - :window"
        params["window"] = active_within
    sql += " ORDER BY updated_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    async with sessions() as s:
        return list((await s.execute(text(sql), params)).scalars())


async def _warm_batch(
    sessions: SessionFactory,
    store: VersionedStore,
    user_ids: list[uuid.UUID],
    targets: Sequence[str],
    summary: WarmSummary,
) -> None:
    async with sessions() as s, s.begin():
        # One snapshot for the batch; versions are read before the content they label.
        wallet_rows = (
            await s.execute(
                text(
                    "SELECT id, user_id, currency, available, locked, version FROM accounts "
                    "WHERE user_id = ANY(:ids)"
                ),
                {"ids": user_ids},
            )
        ).all()
        wallets = {row.user_id: Wallet(*row) for row in wallet_rows}
        profiles: dict[uuid.UUID, UserRecord] = {}
        if "profiles" in targets:
            rows = await s.execute(
                text(
                    "SELECT id, name, phone, email, NULL, google_subject, is_admin, version, "
                    "created_at FROM users WHERE id = ANY(:ids)"
                ),
                {"ids": user_ids},
            )
            profiles = {row[0]: UserRecord(*row) for row in rows}
        histories = (
            await history_for_accounts(
                s, {w.account_id: w.user_id for w in wallets.values()}, limit=HISTORY_PAGE
            )
            if "history" in targets
            else {}
        )
        contacts: dict[uuid.UUID, list[ContactRecord]] = (
            await contacts_for_users(s, user_ids, limit=CONTACTS_PAGE)
            if "contacts" in targets
            else {}
        )
    # One group of fills per user: that user's keys share a hash tag, so one script call
    # checks and writes all of them.
    groups: dict[uuid.UUID, list[tuple[str, str, int, bytes]]] = {}
    for user_id, wallet in wallets.items():
        group = groups.setdefault(user_id, [])
        if "balances" in targets:
            key = keys.user_key(user_id, keys.BALANCE)
            group.append(("balances", key, wallet.version, codec.encode_wallet(wallet)))
        if "history" in targets:
            key = keys.user_key(user_id, keys.HISTORY)
            group.append(("history", key, wallet.version, codec.encode_history(histories[user_id])))
        if "contacts" in targets:
            key = keys.user_key(user_id, keys.CONTACTS)
            payload = codec.encode_contacts(contacts.get(user_id, []))
            group.append(("contacts", key, wallet.version, payload))
    for user_id, user in profiles.items():
        key = keys.user_key(user_id, keys.PROFILE)
        payload = codec.encode_user(user)
        groups.setdefault(user_id, []).append(("profiles", key, user.version, payload))
    stored = await store.fill_many(list(groups.values()))
    for group in groups.values():
        for target, *_ in group:
            summary.targets[target] += 1
    for target, count in stored.items():
        summary.written[target] += count
