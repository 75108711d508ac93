"""Every Redis key and channel name OKANE uses, and nowhere else spelled out.

Three namespaces, so that what one part does to its keys cannot touch another's:

- ``okane:cache:v1:...`` cache entries: disposable copies of database rows (``CACHE_PATTERN``),
  and the cache's epoch. Bump ``CACHE`` when a value's shape changes.
- ``okane:sec:v1:...`` revoked sessions, written for replicas of the previous release only
  (the truth of sessions and rate limits is in PostgreSQL); never dropped by the cache.
- ``okane:events:v1:...`` live events: per-user streams and the channel that wakes replicas.

Per-user keys put ``{user:<id>}`` in a hash tag, so one user's keys share a Redis Cluster slot
(multi-key scripts and pipelines per user stay legal).
"""

from __future__ import annotations

import uuid

CACHE = "okane:cache:v1"
SECURITY = "okane:sec:v1"
EVENTS = "okane:events:v1"

# Matches every cache entry of a user and nothing else.
CACHE_PATTERN = f"{CACHE}:{{user:*"

BALANCE = "balance"
HISTORY = "history-first-page"
PROFILE = "profile"
CONTACTS = "contacts"

# What a change of version invalidates: a wallet's version orders its balance, first page of
# history and contacts; a user's version orders their profile. (The kinds of ``cache_outbox``.)
WALLET_KIND = "wallet"
PROFILE_KIND = "profile"
ENTRIES_OF_KIND = {WALLET_KIND: (BALANCE, HISTORY, CONTACTS), PROFILE_KIND: (PROFILE,)}
KIND_OF_ENTRY = {what: kind for kind, whats in ENTRIES_OF_KIND.items() for what in whats}

# The cache's epoch: set by the first process to find it missing (a Redis restarted empty), after
# it re-wrote every pending invalidation; a fill names the epoch it read under and is refused
# under another. Redis Cluster would need one per shard.
EPOCH = f"{CACHE}:epoch"


def user_tag(user_id: uuid.UUID | str) -> str:
    """What Redis Cluster hashes of a user's keys: every key of one user shares a slot."""
    return f"user:{user_id}"


def _user(user_id: uuid.UUID | str) -> str:
    return f"{{user:{user_id}}}"


def user_key(user_id: uuid.UUID | str, what: str) -> str:
    """The cache entry ``what`` (``BALANCE``, ``HISTORY``, ...) of one user."""
    return f"{CACHE}:{_user(user_id)}:{what}"


def entries(user_id: uuid.UUID | str, kind: str, version: int) -> list[tuple[str, int]]:
    """The cache entries a change of ``kind`` to ``version`` makes stale, with that version."""
    prefix = f"{CACHE}:{_user(user_id)}:"
    return [(prefix + what, version) for what in ENTRIES_OF_KIND[kind]]


def revoked_session(user_id: uuid.UUID | str, session_id: uuid.UUID | str) -> str:
    return f"{SECURITY}:{_user(user_id)}:revoked-session:{session_id}"


def previous_revoked_session(user_id: uuid.UUID | str, session_id: uuid.UUID | str) -> str:
    """The name releases before ``revoked_session`` used. Written and honoured too while a
    rolling upgrade runs old and new replicas side by side, so neither misses a revocation the
    other recorded; drop it one release later (it lives an access token's lifetime)."""
    return f"okane:v1:revoked-session:{{{user_id}}}:{session_id}"


def rate_limit(scope: str, subject: str) -> str:
    """The counter of one fixed window: ``scope`` says what is limited (``login-address``),
    ``subject`` whom (an address, an account, a user id)."""
    return f"{SECURITY}:ratelimit:{scope}:{{{subject}}}"


def events_stream(user_id: uuid.UUID | str) -> str:
    return f"{EVENTS}:{_user(user_id)}:wallet"


# Pub/sub, not a key: carries the id of each user whose stream grew.
EVENTS_CHANNEL = f"{EVENTS}:wake"
