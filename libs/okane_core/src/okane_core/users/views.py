"""What the users module returns: plain records, no SQLAlchemy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    password_hash: str | None
    google_subject: str | None
    is_admin: bool
    version: int
    created_at: datetime
    phone_verified: bool = False
    email_verified: bool = False

    def verified(self, channel: str) -> bool:
        """Whether the address on ``channel`` ("phone" or "email") is proven."""
        return self.phone_verified if channel == "phone" else self.email_verified

    @property
    def has_proven_contact(self) -> bool:
        return self.phone_verified or self.email_verified


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """Someone the owner paid or was paid by: their name, and only what the owner typed to
    pay them (``paid_as``, a phone or email; None when they paid the owner, or were paid by
    id), never the other party's phone or email."""

    user_id: uuid.UUID
    name: str
    paid_as: str | None
    last_paid_at: datetime
    payments: int
