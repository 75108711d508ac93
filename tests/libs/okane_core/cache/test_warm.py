"""``okane warm`` over a seeded database: the keys it reports exist with the right values, and a
second run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from redis.asyncio import Redis

from okane_core.app import codec
from okane_core.app.reads import ReadCache
from okane_core.app.warming import parse_duration
from okane_core.cache import keys
from okane_core.cache.store import decode
from okane_core.db.engine import SessionFactory, run_in_transaction
from okane_core.ledger import topups, transfers, wallets
from okane_core.ledger.book import Ledger
from okane_core.settings import Settings
from okane_core.users import repository as users_repo
from tests.factories import fund, make_user

USERS = 60


def run_warm(settings: Settings, redis_url: str, *args: str) -> dict[str, object]:
    env = {
        **os.environ,
        "OKANE_DATABASE_URL": settings.database_url or "",
        "OKANE_REDIS_URL": redis_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "okane_core.cli", "warm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


async def test_warm_writes_what_the_database_holds_and_is_idempotent(
    settings: Settings, sessions: SessionFactory, ledger: Ledger, redis: Redis, reads: ReadCache
) -> None:
    people = [await make_user(sessions, ledger, name=f"Warm {i}") for i in range(USERS)]
    for person in people[:20]:
        await fund(sessions, ledger, person.id, 5_000)
    for i, person in enumerate(people[:20]):
        await run_in_transaction(
            sessions,
            lambda s, person=person, i=i: transfers.transfer(
                ledger,
                s,
                user_id=person.id,
                to=str(people[(i + 1) % 20].id),
                amount=100 + i,
                idempotency_key=uuid.uuid4().hex,
            ),
        )
    options = redis.connection_pool.connection_kwargs
    redis_url = f"redis://{options['host']}:{options['port']}/{options['db']}"
    first = run_warm(settings, redis_url, "--batch", "25")
    assert first["users"] == USERS
    assert first["targets"] == dict.fromkeys(["balances", "profiles", "contacts", "history"], USERS)
    assert first["written"] == first["targets"]
    async with sessions() as s:
        for person in people:
            wallet = await wallets.wallet(s, person.id)
            cached = decode(await redis.get(keys.user_key(person.id, keys.BALANCE)))
            assert cached is not None and codec.decode_wallet(cached[1]) == wallet
            history = decode(await redis.get(keys.user_key(person.id, keys.HISTORY)))
            assert history is not None
            assert codec.decode_history(history[1]) == await wallets.history(s, person.id)
            contacts = decode(await redis.get(keys.user_key(person.id, keys.CONTACTS)))
            assert contacts is not None
            assert codec.decode_contacts(contacts[1]) == await users_repo.list_contacts(
                s, person.id, limit=20
            )
            profile = decode(await redis.get(keys.user_key(person.id, keys.PROFILE)))
            assert profile is not None and codec.decode_user(profile[1]).name == person.name
            assert await redis.pttl(keys.user_key(person.id, keys.BALANCE)) > 0
    second = run_warm(settings, redis_url, "--batch", "25")
    assert second["targets"] == first["targets"]
    assert second["written"] == dict.fromkeys(["balances", "profiles", "contacts", "history"], 0)
    # Top-N and a subset of targets.
    await redis.flushdb()
    some = run_warm(settings, redis_url, "--users", "7", "--targets", "balances,profiles")
    assert some["users"] == 7
    assert set(some["targets"]) == {"balances", "profiles"}  # type: ignore[call-overload]
    assert len([k async for k in redis.scan_iter(keys.CACHE_PATTERN)]) == 14
    # A warm entry is an ordinary versioned entry: a later write's tombstone replaces it.
    funded = people[0]
    await run_in_transaction(
        sessions,
        lambda s: topups.start_topup(
            ledger, s, user_id=funded.id, amount=1, idempotency_key="after-warm"
        ),
        on_commit=reads.invalidate,
    )
    assert decode(await redis.get(keys.user_key(funded.id, keys.BALANCE))) is None


def test_warm_refuses_bad_arguments(settings: Settings) -> None:
    env = {
        **os.environ,
        "OKANE_DATABASE_URL": settings.database_url or "",
        "OKANE_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    for args in (
        ["--targets", "balances,nope"],
        ["--users", "0"],
        ["--active-within", "soon"],
        ["--users", "3", "--active-within", "1h"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "okane_core.cli", "warm", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, (args, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800), ("30", 30)]
)
def test_durations(raw: str, seconds: int) -> None:
    assert parse_duration(raw).total_seconds() == seconds
