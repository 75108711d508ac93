"""JSON encoding of cached views (the payload part of a versioned entry).

orjson writes dataclasses, UUIDs and datetimes (RFC 3339, as ``datetime.isoformat`` does)
natively; encoding was a quarter of ``okane warm``'s time with the standard library's json.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

import orjson

from okane_core.ledger.views import HistoryPage, TransactionView, Wallet
from okane_core.users.views import ContactRecord, UserRecord

_TXN_UUIDS = ("id", "initiator_id", "reverses_id", "counterparty_id")
_TXN_TIMES = ("expires_at", "created_at", "updated_at", "settled_at")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def encode_wallet(wallet: Wallet) -> bytes:
    return dumps(wallet)


def decode_wallet(payload: bytes) -> Wallet:
    data = orjson.loads(payload)
    data["user_id"] = uuid.UUID(data["user_id"])
    return Wallet(**data)


def encode_history(page: HistoryPage) -> bytes:
    return dumps({"data": page.data, "has_more": page.has_more})


def decode_history(payload: bytes) -> HistoryPage:
    data = orjson.loads(payload)
    views = []
    for item in data["data"]:
        for name in _TXN_UUIDS:
            item[name] = _uuid(item[name])
        for name in _TXN_TIMES:
            item[name] = _time(item[name])
        views.append(TransactionView(**item))
    return HistoryPage(data=views, has_more=bool(data["has_more"]))


def encode_user(user: UserRecord) -> bytes:
    fields = {f.name: getattr(user, f.name) for f in dataclasses.fields(user)}
    fields.pop("password_hash")  # never cached
    return dumps(fields)


def decode_user(payload: bytes) -> UserRecord:
    data = orjson.loads(payload)
    data["id"] = uuid.UUID(data["id"])
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    return UserRecord(password_hash=None, **data)


def encode_contacts(contacts: list[ContactRecord]) -> bytes:
    # "phone" and "email" stay, empty, for replicas of the previous release during a rolling
    # upgrade (they read them); drop them one release later.
    return dumps([{**dataclasses.asdict(c), "phone": None, "email": None} for c in contacts])


def decode_contacts(payload: bytes) -> list[ContactRecord]:
    # An entry of the previous release has no "paid_as" (and the other party's phone and
    # email, which are not shown): it reads as a contact with nothing typed.
    return [
        ContactRecord(
            user_id=uuid.UUID(c["user_id"]),
            name=c["name"],
            paid_as=c.get("paid_as"),
            last_paid_at=datetime.fromisoformat(c["last_paid_at"]),
            payments=c["payments"],
        )
        for c in orjson.loads(payload)
    ]
