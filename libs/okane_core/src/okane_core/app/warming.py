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

from okane_core.app import codec
from okane_core.app.lease import epoch_for_fills
from okane_core.app.reads import CONTACTS_PAGE, HISTORY_PAGE
from okane_core.cache import keys
from okane_core.cache.client import BATCH_COMMAND_TIMEOUT, create_redis
from okane_core.cache.store import VersionedStore
from okane_core.db.uow import UnitOfWork
from okane_core.ledger.repository import accounts
from okane_core.ledger.repository.history import history_for_accounts
from okane_core.observability import metrics
from okane_core.settings import Settings
from okane_core.users import repository as users
from okane_core.users.views import ContactRecord, UserRecord

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
    uow: UnitOfWork,
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
        user_ids = await uow.read(
            lambda s: accounts.recently_active_users(s, limit=users, active_within=active_within)
        )
        for start in range(0, len(user_ids), batch):
            chunk = user_ids[start : start + batch]
            await _warm_batch(uow, store, chunk, targets, summary)
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


async def _warm_batch(
    uow: UnitOfWork,
    store: VersionedStore,
    user_ids: list[uuid.UUID],
    targets: Sequence[str],
    summary: WarmSummary,
) -> None:
    epoch = await epoch_for_fills(uow.sessions, store)  # the epoch the batch reads under
    async with uow.sessions() as s, s.begin():
        # One snapshot for the batch; versions are read before the content they label.
        wallets = {w.user_id: w for w in await accounts.wallets_of_users(s, user_ids)}
        profiles: dict[uuid.UUID, UserRecord] = (
            {u.id: u for u in await users.users_by_ids(s, user_ids)}
            if "profiles" in targets
            else {}
        )
        histories = (
            await history_for_accounts(
                s, {w.account_id: w.user_id for w in wallets.values()}, limit=HISTORY_PAGE
            )
            if "history" in targets
            else {}
        )
        contacts: dict[uuid.UUID, list[ContactRecord]] = (
            await users.contacts_for_users(s, user_ids, limit=CONTACTS_PAGE)
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
    stored = await store.fill_many(list(groups.values()), epoch=epoch) if epoch else {}
    for group in groups.values():
        for target, *_ in group:
            summary.targets[target] += 1
    for target, count in stored.items():
        summary.written[target] += count


async def warm_now(
    settings: Settings,
    uow: UnitOfWork,
    redis_url: str,
    *,
    targets: Sequence[str] = TARGETS,
    users: int | None = None,
    active_within: timedelta | None = None,
    batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> WarmSummary:
    """A warm run on a Redis client of its own: warm pipelines carry thousands of commands, so
    they get the batch timeout, not the request path's."""
    redis = create_redis(redis_url, command_timeout=BATCH_COMMAND_TIMEOUT)
    try:
        store = VersionedStore(
            redis,
            value_ttl=settings.cache_ttl_seconds,
            tombstone_ttl=settings.cache_tombstone_ttl_seconds,
        )
        return await warm(
            uow,
            store,
            targets=targets,
            users=users,
            active_within=active_within,
            batch=batch,
            progress=progress,
        )
    finally:
        await redis.aclose()
