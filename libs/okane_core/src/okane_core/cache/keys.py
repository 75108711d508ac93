"""Cache key names. Each says what it holds, carries the schema version (bump ``SCHEMA`` when a
value's shape changes), and puts the user id in a hash tag so one user's keys share a Redis
Cluster slot (multi-key scripts and pipelines per user stay legal)."""

from __future__ import annotations

import uuid

PREFIX = "okane"
SCHEMA = "v1"

BALANCE = "balance"
HISTORY = "history-first-page"
PROFILE = "profile"
CONTACTS = "contacts"
TARGETS = {"balances": BALANCE, "history": HISTORY, "profiles": PROFILE, "contacts": CONTACTS}


def user_key(user_id: uuid.UUID | str, what: str) -> str:
    return f"{PREFIX}:{SCHEMA}:{{user:{user_id}}}:{what}"


def events_stream(user_id: uuid.UUID | str) -> str:
    return f"{PREFIX}:{SCHEMA}:{{user:{user_id}}}:events"


EVENTS_CHANNEL = f"{PREFIX}:{SCHEMA}:events"
