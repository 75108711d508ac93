"""The read use cases. What people look at most (balance, first page of history, profile,
contacts) is read through the cache: every such read returns what PostgreSQL holds at a version
no older than the last write acknowledged to anyone (see ``cache/store.py`` for why that holds).
Filtered or deeper pages, single transactions and look-ups go to PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from okane_core.app import codec
from okane_core.app.lease import TrustLease
from okane_core.cache import keys
from okane_core.cache.store import LiveEvents, VersionedStore
from okane_core.db.changes import Changes
from okane_core.db.uow import UnitOfWork
from okane_core.errors import UserNotFound
from okane_core.ledger import wallets
from okane_core.ledger.views import HistoryPage, TransactionView, Wallet
from okane_core.observability import metrics
from okane_core.users import notifications as notifications_repo
from okane_core.users import repository as users_repo
from okane_core.users.notifications import NotificationRecord
from okane_core.users.views import ContactRecord, UserRecord

T = TypeVar("T")

HISTORY_PAGE = 20
CONTACTS_PAGE = 20


class ReadCache:
    """The cached reads. With ``store=None`` every read goes to PostgreSQL (cache disabled).
    A cached entry is served only while the process's trust lease holds and no newer change of
    it is pending (``app/lease.py``)."""

    def __init__(self, store: VersionedStore | None, uow: UnitOfWork, lease: TrustLease) -> None:
        self.store = store
        self.uow = uow
        self.sessions = uow.sessions
        self.lease = lease

    async def _through(
        self,
        user_id: uuid.UUID,
        what: str,
        target: str,
        decode: Callable[[bytes], T],
        load: Callable[[], Awaitable[tuple[int, T, bytes]]],
    ) -> T:
        key = keys.user_key(user_id, what)
        store = self.store
        if store is not None:
            if not self.lease.serves_cache():
                metrics.CACHE_REQUESTS.labels(target, "bypass").inc()
            else:
                cached = await store.get(key, target)
                if cached is not None:
                    if self.lease.trusts(user_id, what, cached[0]):
                        return decode(cached[1])
                    metrics.CACHE_REQUESTS.labels(target, "distrusted").inc()
        epoch = store.epoch if store is not None else None
        read_at = time.monotonic()
        version, value, payload = await load()
        if store is not None:
            await store.fill(key, target, version, payload, read_at=read_at, epoch=epoch)
        return value

    async def wallet(self, user_id: uuid.UUID) -> Wallet:
        async def load() -> tuple[int, Wallet, bytes]:
            async with self.sessions() as s:
                wallet = await wallets.wallet(s, user_id)
            return wallet.version, wallet, codec.encode_wallet(wallet)

        return await self._through(user_id, keys.BALANCE, "balances", codec.decode_wallet, load)

    async def history(self, user_id: uuid.UUID, limit: int) -> HistoryPage:
        """The newest ``limit`` transactions, without filters: the first HISTORY_PAGE are
        cached; a longer page is read from PostgreSQL."""
        if limit > HISTORY_PAGE:
            async with self.sessions() as s:
                return await wallets.history(s, user_id, limit=limit)

        async def load() -> tuple[int, HistoryPage, bytes]:
            async with self.sessions() as s:
                # The version is read first: content read after it is at least as new, so
                # labelling it with this version can only make a later fill lose, never win.
                wallet = await wallets.wallet(s, user_id)
                page = await wallets.history(s, user_id, limit=HISTORY_PAGE)
            return wallet.version, page, codec.encode_history(page)

        page = await self._through(user_id, keys.HISTORY, "history", codec.decode_history, load)
        if limit >= HISTORY_PAGE:
            return page
        return HistoryPage(data=page.data[:limit], has_more=page.has_more or len(page.data) > limit)

    async def profile(self, user_id: uuid.UUID) -> UserRecord:
        async def load() -> tuple[int, UserRecord, bytes]:
            async with self.sessions() as s:
                user = await users_repo.get_user(s, user_id)
            if user is None:
                raise UserNotFound("this user no longer exists")
            return user.version, user, codec.encode_user(user)

        return await self._through(user_id, keys.PROFILE, "profiles", codec.decode_user, load)

    async def contacts(self, user_id: uuid.UUID, limit: int) -> list[ContactRecord]:
        async def load() -> tuple[int, list[ContactRecord], bytes]:
            async with self.sessions() as s:
                wallet = await wallets.wallet(s, user_id)
                found = await users_repo.list_contacts(s, user_id, limit=CONTACTS_PAGE)
            return wallet.version, found, codec.encode_contacts(found)

        if limit > CONTACTS_PAGE:
            async with self.sessions() as s:
                return await users_repo.list_contacts(s, user_id, limit=limit)
        found = await self._through(user_id, keys.CONTACTS, "contacts", codec.decode_contacts, load)
        return found[:limit]

    async def invalidate(self, changes: Changes, events: LiveEvents | None = None) -> bool:
        """After a commit: tombstone every cached view that the unit of work changed (and
        append ``events`` in the same round trip). Returns whether Redis confirmed."""
        if self.store is None:
            return True
        entries = [
            entry
            for user_id, wallet in changes.wallets.items()
            for entry in keys.entries(user_id, keys.WALLET_KIND, wallet.version)
        ]
        entries += [
            entry
            for user_id, version in changes.profiles.items()
            for entry in keys.entries(user_id, keys.PROFILE_KIND, version)
        ]
        return await self.store.invalidate(entries, events)


async def transaction(
    uow: UnitOfWork, user_id: uuid.UUID, transaction_id: uuid.UUID
) -> TransactionView:
    """One of this user's transactions (another user's is indistinguishable from none)."""
    return await uow.read(lambda s: wallets.transaction(s, user_id, transaction_id))


async def history(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    limit: int,
    starting_after: uuid.UUID | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> HistoryPage:
    """A filtered or later page of history, from PostgreSQL."""
    return await uow.read(
        lambda s: wallets.history(
            s, user_id, limit=limit, starting_after=starting_after, kind=kind, status=status
        )
    )


async def find_user(uow: UnitOfWork, by: str, value: str | uuid.UUID) -> UserRecord | None:
    """The user with this exact phone, email or id, if any."""
    return await uow.read(lambda s: users_repo.find_user(s, by, value))


async def get_user(uow: UnitOfWork, user_id: uuid.UUID) -> UserRecord | None:
    return await uow.read(lambda s: users_repo.get_user(s, user_id))


async def is_contact(uow: UnitOfWork, owner_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    """Whether the two have paid each other before."""
    return await uow.read(lambda s: users_repo.is_contact(s, owner_id, contact_id))


async def notifications(
    uow: UnitOfWork, *, address: str | None, limit: int
) -> list[NotificationRecord]:
    """The newest notifications (the development mailbox)."""
    return await uow.read(lambda s: notifications_repo.recent(s, address=address, limit=limit))
