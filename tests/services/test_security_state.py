"""Security state (ended sessions, login lockouts) lives in PostgreSQL, not in the cache's Redis:
a Redis that evicted or lost everything brings no session back and lifts no lockout."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from okane_core.app import logins
from okane_core.app.lease import TrustLease
from okane_core.cache import keys
from okane_core.cache.breaker import CircuitBreaker
from okane_core.cache.client import create_redis
from okane_core.db.engine import SessionFactory
from okane_core.db.uow import UnitOfWork
from okane_core.ledger.book import Ledger
from okane_core.localstack import Endpoints, LocalRedis
from okane_user_api.auth.revocation import Revocations
from tests.factories import make_user
from tests.services.client import next_phone
from tests.services.conftest import Stack, start_stack, stop_stack

ATTEMPTS = 3  # failures per (account, address)
ACCOUNT_FAILURES = 6  # failures per account, from every address
NEW_PAYEES = 5  # payees outside one's contacts per window
STREAMS = 2  # open event streams per user (per process)


@pytest.fixture(scope="module")
def security_stack(
    module_database_url: str, own_redis: LocalRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url,
        own_redis.url,
        tmp_path_factory.mktemp("security-logs"),
        OKANE_LOGIN_ATTEMPTS_PER_ACCOUNT=str(ATTEMPTS),
        OKANE_LOGIN_FAILURES_PER_ACCOUNT=str(ACCOUNT_FAILURES),
        OKANE_PAYEE_LOOKUPS_PER_WINDOW=str(NEW_PAYEES),
        OKANE_STREAMS_PER_USER=str(STREAMS),
        OKANE_DEV_MAILBOX="true",
    )
    yield running
    stop_stack(running)


async def test_sessions_and_lockouts_survive_a_redis_that_lost_everything(
    security_stack: Stack, own_redis: LocalRedis
) -> None:
    async with security_stack.api() as api:
        user = await api.signup("Meera")
        other_session = await api.http.post(
            "/v1/auth/login", json={"login": user.phone, "password": user.password}
        )
        assert other_session.status_code == 200
        still_in = {"Authorization": f"Bearer {other_session.json()['access_token']}"}
        assert (await api.http.post("/v1/auth/logout", headers=user.auth)).status_code == 204
        assert (await api.http.get("/v1/wallet", headers=user.auth)).status_code == 401

        locked = await api.signup("Locked Out")
        wrong = {"login": locked.phone, "password": "not the password"}
        for _ in range(ATTEMPTS):
            assert (await api.http.post("/v1/auth/login", json=wrong)).status_code == 401
        right = {"login": locked.phone, "password": locked.password}
        assert (await api.http.post("/v1/auth/login", json=right)).status_code == 429

        # Redis restarts empty (it keeps nothing on disk), then is flushed for good measure.
        own_redis.stop()
        own_redis.start()
        redis = Redis.from_url(own_redis.url)
        try:
            await redis.flushall()
        finally:
            await redis.aclose()

        for _ in range(5):  # across several lease renewals and both workers
            assert (await api.http.get("/v1/wallet", headers=user.auth)).status_code == 401
            assert (await api.http.get("/v1/wallet", headers=still_in)).status_code == 200
        assert (await api.http.post("/v1/auth/login", json=right)).status_code == 429


async def test_a_logout_ends_the_sessions_open_event_stream(security_stack: Stack) -> None:
    async with security_stack.api() as api:
        user = await api.signup("Streamer")
        lines: list[str] = []

        async def listen() -> None:
            headers = {**user.auth, "Accept": "text/event-stream"}
            async with api.http.stream("GET", "/v1/events", headers=headers, timeout=None) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    lines.append(line)  # noqa: PERF401 - read as they arrive, while waiting

        stream = asyncio.create_task(listen())
        for _ in range(100):  # until the snapshot arrived
            if any(line.startswith("data: ") for line in lines):
                break
            await asyncio.sleep(0.05)
        assert not stream.done()
        assert (await api.http.post("/v1/auth/logout", headers=user.auth)).status_code == 204
        await asyncio.wait_for(stream, timeout=20)  # ended by the server, not by the client
        reopened = await api.http.get("/v1/events", headers=user.auth)
        assert reopened.status_code == 401


async def test_a_nul_byte_in_a_web_form_is_refused_by_name(security_stack: Stack) -> None:
    async with security_stack.api() as api:
        for path, form in [
            ("/login", {"login": "asha\x00@example.com", "password": "whatever"}),
            ("/signup", {"name": "Asha", "phone": "+919876543210", "password": "x\x00" * 5}),
        ]:
            response = await api.http.post(path, data=form)
            assert response.status_code == 422, (path, response.status_code)
            assert "NUL" in response.text


@pytest.fixture
async def redis(endpoints: Endpoints) -> AsyncIterator[Redis]:
    client = create_redis(endpoints.redis_url.rsplit("/", 1)[0] + "/6")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_a_revocation_is_honoured_with_or_without_a_lease_and_told_to_old_replicas(
    redis: Redis, sessions: SessionFactory, ledger: Ledger
) -> None:
    """A replica of the previous release revokes in PostgreSQL (and under the old Redis name):
    this release honours it from its lease, and from PostgreSQL when the lease has lapsed; what
    this release revokes is also written under the old name, for the old replicas."""
    uow = UnitOfWork(sessions)
    user = await make_user(sessions, ledger)
    by_old, by_new, live = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for session_id in (by_old, by_new, live):
        await logins.open_session(
            uow,
            session_id=session_id,
            user_id=user.id,
            credential_hash=session_id.bytes,
            method="password",
            lifetime_seconds=3600,
        )
    lease = TrustLease(sessions, None, seconds=0.2, session_window=960)
    revocations = Revocations(redis, uow, lease, CircuitBreaker(), ttl_seconds=900)
    await logins.end_session(uow, by_old)  # what an old replica does first
    assert await revocations.is_revoked(user.id, by_old)  # no lease: asks PostgreSQL
    await lease.renew()
    assert lease.revoked(by_old) is True  # the lease knows it now
    assert await revocations.is_revoked(user.id, by_old)
    assert not await revocations.is_revoked(user.id, live)

    await logins.end_session(uow, by_new)
    await revocations.publish(user.id, by_new)
    assert await redis.exists(keys.previous_revoked_session(user.id, by_new))
    await lease.renew()
    assert await revocations.is_revoked(user.id, by_new)
    assert not await revocations.is_revoked(user.id, live)


def client_from(stack: Stack, address: str) -> httpx.AsyncClient:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 is loopback)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=stack.api_url, transport=transport, timeout=30)


async def test_strangers_guessing_a_password_never_lock_its_owner_out(
    security_stack: Stack,
) -> None:
    async with security_stack.api() as api:
        owner = await api.signup("Owner Of It")  # signs in from 127.0.0.1: a known address
        await api.verify_phone(owner)
    wrong = {"login": owner.phone, "password": "a guess"}
    right = {"login": owner.phone, "password": owner.password}
    answers: dict[str, list[int]] = {}
    for stranger in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
        async with client_from(security_stack, stranger) as http:
            answers[stranger] = [
                (await http.post("/v1/auth/login", json=wrong)).status_code
                for _ in range(ATTEMPTS + 1)
            ]
    # Each stranger's address is throttled for this account after its own failures; once the
    # account has had ACCOUNT_FAILURES of them, an address new to it is refused at once...
    assert answers == {
        "127.0.0.3": [401] * ATTEMPTS + [429],
        "127.0.0.4": [401] * ATTEMPTS + [429],
        "127.0.0.5": [429] * (ATTEMPTS + 1),
    }
    # ...even with the right password, unless it brings a code sent to the owner's proven
    # phone (a step-up: the owner on a new device gets in, a stranger cannot),
    async with client_from(security_stack, "127.0.0.6") as http:
        newcomer = await http.post("/v1/auth/login", json=right)
        assert newcomer.status_code == 429 and int(newcomer.headers["retry-after"]) > 0
        assert newcomer.json()["code"] == "step_up_required"
        guessed = await http.post("/v1/auth/login", json={**right, "code": "000000"})
        assert guessed.status_code == 429 and guessed.json()["field"] == "code"
        asked = await http.post("/v1/auth/login/code", json={"login": owner.phone})
        assert asked.status_code == 202
        async with security_stack.api() as api:
            code = await api.code_for(owner.phone, "step_up_code")
        stepped_up = await http.post("/v1/auth/login", json={**right, "code": code})
        assert stepped_up.status_code == 200, stepped_up.text
    # while the owner, from the address they signed in from before, gets in at once.
    async with client_from(security_stack, "127.0.0.1") as http:
        mine = await http.post("/v1/auth/login", json=right)
    assert mine.status_code == 200, mine.text


async def test_names_and_notes_refuse_characters_that_hide_or_reorder_text(
    security_stack: Stack,
) -> None:
    """A payee's name with a right-to-left override reads as someone else's; a zero-width
    space makes two names look alike. Each is a 422 naming the field, and nothing changes."""
    async with security_stack.api() as api:
        payer, payee = await api.signup("Payer"), await api.signup("Payee")
        await api.fund(payer, 1_000)
        spoofed = ["Ravi\u202eKumar", "Ra\u200bvi", "Ravi\x07", "Ravi\tKumar", "Ravi\u2028"]
        for name in spoofed:
            signup = await api.http.post(
                "/v1/auth/signup",
                json={"name": name, "phone": next_phone(), "password": "correct horse battery"},
            )
            assert signup.status_code == 422, (name, signup.text)
            assert signup.json()["field"] == "name"
            patched = await api.http.patch("/v1/me", json={"name": name}, headers=payee.auth)
            assert patched.status_code == 422 and patched.json()["field"] == "name", name
        assert (await api.http.get("/v1/me", headers=payee.auth)).json()["name"] == "Payee"
        for note in ["refund \u202egnp.exe", "split\u200b", "bell\x07"]:
            refused = await api.transfer(payer, payee.phone, 10, note=note)
            assert refused.status_code == 422, (note, refused.text)
            assert refused.json()["field"] == "note"
        assert await api.wallet(payer) == (1_000, 0)
        kept = await api.transfer(payer, payee.phone, 10, note="dinner\n\tand a movie")
        assert kept.status_code == 201 and kept.json()["note"] == "dinner\n\tand a movie"


async def test_transfers_cannot_walk_the_user_base(security_stack: Stack) -> None:
    """From an empty wallet, each transfer to a phone answers with the payee's name (a
    recorded failure) or "no such user". Payees outside one's contacts are limited per window;
    over the limit the answer is the same whether or not the phone belongs to anyone, and
    contacts can still be paid."""
    async with security_stack.api() as api:
        prober = await api.signup("Prober")
        friend = await api.signup("Friend")
        await api.fund(friend, 1_000)
        assert (await api.transfer(friend, prober.phone, 100)).status_code == 201  # a contact
        people = [await api.signup(f"Person {i}") for i in range(NEW_PAYEES + 2)]
        nobody = [next_phone() for _ in range(2)]
        targets = [people[0].phone, nobody[0], *(p.phone for p in people[1 : NEW_PAYEES - 1])]
        assert len(targets) == NEW_PAYEES
        answered = [await api.transfer(prober, phone, 500) for phone in targets]
        assert [a.status_code for a in answered] == [201, 404] + [201] * (NEW_PAYEES - 2)
        assert answered[0].json()["counterparty"]["name"] == "Person 0"  # what the prober learns
        over = [await api.transfer(prober, phone, 500) for phone in (people[-1].phone, nobody[1])]
        assert [a.status_code for a in over] == [429, 429], [a.text for a in over]
        bodies = [{k: v for k, v in a.json().items() if k != "instance"} for a in over]
        assert bodies[0] == bodies[1]  # nothing tells an existing payee from nobody
        assert int(over[0].headers["retry-after"]) > 0
        # A contact is paid as before, and repaying someone already paid is not a new payee.
        to_friend = await api.transfer(prober, friend.phone, 10)
        assert to_friend.status_code == 201 and to_friend.json()["status"] == "success"
        assert await api.wallet(prober) == (90, 0)


async def test_a_user_holds_a_bounded_number_of_open_streams(security_stack: Stack) -> None:
    async with security_stack.api() as api:
        user, other = await api.signup("Many Tabs"), await api.signup("Other")
        headers = {**user.auth, "Accept": "text/event-stream"}
        opened: list[asyncio.Event] = []

        async def hold(until: asyncio.Event) -> None:
            started = asyncio.Event()
            opened.append(started)
            async with api.http.stream("GET", "/v1/events", headers=headers, timeout=None) as r:
                assert r.status_code == 200
                async for _ in r.aiter_lines():
                    started.set()
                    if until.is_set():
                        return

        release = [asyncio.Event() for _ in range(STREAMS)]
        holders = [asyncio.create_task(hold(e)) for e in release]
        await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), timeout=60)
        async with api.http.stream("GET", "/v1/events", headers=headers) as refused:
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        theirs = {**other.auth, "Accept": "text/event-stream"}
        async with api.http.stream("GET", "/v1/events", headers=theirs) as others:
            assert others.status_code == 200  # another user is not affected
        for holder in holders:
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
        for _ in range(150):  # the server notices the closed streams (within a poll, ~5 s)
            async with api.http.stream("GET", "/v1/events", headers=headers) as again:
                if again.status_code == 200:
                    break
            await asyncio.sleep(0.2)
        assert again.status_code == 200
