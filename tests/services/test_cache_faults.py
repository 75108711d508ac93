"""No stale read after an acknowledged write, through either of two user-api processes, while
Redis fails in each way the cache must survive.

Clients pay, rename themselves and read back through both processes (which share nothing but
PostgreSQL and Redis) while each fault runs: one failed Redis write, Redis answering reads but
refusing writes, Redis hung (SIGSTOP), Redis restarted empty, a flood of invalidations while
writes are refused; then the writing process is killed between its COMMIT and its
invalidation. Each client is the only writer of its own wallet and profile, so it knows exactly
what every read must show. Figures go to ``.okane/test-reports/cache-faults.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from okane_core.localstack import LocalRedis
from tests.services.client import Api, User
from tests.services.conftest import Stack, two_stacks

REPORT = Path(__file__).resolve().parents[2] / ".okane" / "test-reports" / "cache-faults.json"
CLIENTS = 6
FAULT_SECONDS = 3.0
PENDING_LIMIT = 20
FLOOD_USERS = 2 * PENDING_LIMIT
LEASE_MS = 400
MIN_TRANSFERS = 2 * CLIENTS  # per fault phase: a phase that moved less money proves little


@pytest.fixture(scope="module")
def replicas(
    module_database_url: str, own_redis: LocalRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Stack]]:
    settings = {
        "OKANE_CACHE_LEASE_MS": str(LEASE_MS),
        "OKANE_CACHE_PENDING_LIMIT": str(PENDING_LIMIT),
    }
    with two_stacks(module_database_url, own_redis.url, tmp_path_factory, **settings) as pair:
        yield pair


@dataclass
class Tally:
    requests: int = 0
    transfers: int = 0
    stale: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_errors: int = 0


@dataclass
class Client:
    me: User
    payees: list[User]
    expected: int
    name: str
    last_transaction: str | None = None
    last_payee: str | None = None
    renames: int = 0


class Replicas:
    """The two processes, as HTTP clients; a dead one is skipped for reads."""

    def __init__(self, urls: list[str]) -> None:
        self.http = [
            httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(keepalive_expiry=2))
            for url in urls
        ]
        self.dead: set[int] = set()

    def alive(self) -> list[httpx.AsyncClient]:
        return [h for i, h in enumerate(self.http) if i not in self.dead]

    async def close(self) -> None:
        for client in self.http:
            await client.aclose()


async def _request(
    tally: Tally, http: httpx.AsyncClient, method: str, path: str, **kwargs: object
) -> httpx.Response:
    """One request; a 503 is retried as a client would (same idempotency key)."""
    for attempt in range(6):
        tally.requests += 1
        response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        if response.status_code >= 500:
            tally.server_errors += response.status_code != 503
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.1 * 2**attempt)
    return response


async def _step(client: Client, replicas: Replicas, tally: Tally, rng: random.Random) -> None:
    """One acknowledged write, then reads through every live process."""
    writer = rng.choice(replicas.alive())
    auth = client.me.auth
    if rng.random() < 0.2:
        client.renames += 1
        name = f"{client.me.name} {client.renames}"
        done = await _request(tally, writer, "PATCH", "/v1/me", json={"name": name}, headers=auth)
        if done.status_code != 200:
            tally.failures.append(f"rename {done.status_code} {done.text[:200]}")
            return
        client.name = name
    else:
        payee = rng.choice(client.payees)
        headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
        body = {"to": payee.phone, "amount": 1}
        done = await _request(tally, writer, "POST", "/v1/transfers", json=body, headers=headers)
        if done.status_code != 201:
            tally.failures.append(f"transfer {done.status_code} {done.text[:200]}")
            return
        tally.transfers += 1
        client.expected -= 1
        client.last_transaction = done.json()["id"]
        client.last_payee = payee.id
    await check_reads(client, replicas, tally)


async def check_reads(client: Client, replicas: Replicas, tally: Tally) -> None:
    auth = client.me.auth
    for reader in replicas.alive():
        wallet = await _request(tally, reader, "GET", "/v1/wallet", headers=auth)
        history = await _request(tally, reader, "GET", "/v1/transactions?limit=1", headers=auth)
        profile = await _request(tally, reader, "GET", "/v1/me", headers=auth)
        contacts = await _request(tally, reader, "GET", "/v1/contacts?limit=1", headers=auth)
        where = str(reader.base_url)
        if any(r.status_code != 200 for r in (wallet, history, profile, contacts)):
            tally.failures.append(
                f"read {[r.status_code for r in (wallet, history, profile, contacts)]} {where}"
            )
            continue
        if wallet.json()["available"] != client.expected:
            tally.stale.append(f"{where} balance {wallet.json()['available']} != {client.expected}")
        if client.last_transaction and history.json()["data"][0]["id"] != client.last_transaction:
            tally.stale.append(f"{where} history misses {client.last_transaction}")
        if profile.json()["name"] != client.name:
            tally.stale.append(f"{where} profile {profile.json()['name']!r} != {client.name!r}")
        if client.last_payee and contacts.json()["data"][0]["id"] != client.last_payee:
            tally.stale.append(f"{where} contacts do not start with {client.last_payee}")


async def _load(
    clients: list[Client], replicas: Replicas, tally: Tally, fault: Callable[[], Awaitable[None]]
) -> None:
    """Every client steps in a loop while ``fault`` runs, and a moment after: at least one
    second, and until the phase has moved money ``MIN_TRANSFERS`` times (at most 30 s more,
    for a slow machine)."""
    done = False

    async def run(client: Client, seed: int) -> None:
        rng = random.Random(seed)
        while not done:
            try:
                await _step(client, replicas, tally, rng)
            except httpx.HTTPError as error:
                tally.failures.append(repr(error))

    tasks = [asyncio.create_task(run(c, i)) for i, c in enumerate(clients)]
    try:
        await asyncio.sleep(0.5)
        await fault()
        await asyncio.sleep(1.0)
        for _ in range(300):
            if tally.transfers >= MIN_TRANSFERS:
                break
            await asyncio.sleep(0.1)
    finally:
        done = True
        await asyncio.gather(*tasks)


@pytest.mark.slow
async def test_no_stale_read_through_either_process_under_redis_faults(
    replicas: tuple[Stack, Stack], own_redis: LocalRedis
) -> None:
    first, second = replicas
    async with first.api() as api:
        people = [await api.signup(f"Client {i}") for i in range(CLIENTS)]
        sinks = [await api.signup(f"Payee {i}") for i in range(3)]
        flooders = [await api.signup(f"Flood {i}") for i in range(FLOOD_USERS)]
        for person in [*people, *flooders]:
            await api.fund(person, 100_000)
    clients = [Client(p, sinks, 100_000, p.name) for p in people]
    processes = Replicas([first.api_url, second.api_url])
    redis = Redis.from_url(own_redis.url)

    async def refuse_writes(seconds: float) -> None:
        await redis.config_set("min-replicas-to-write", 1)
        try:
            await asyncio.sleep(seconds)
        finally:
            await redis.config_set("min-replicas-to-write", 0)

    async def one_failed_write() -> None:
        await refuse_writes(0.05)

    async def reads_but_no_writes() -> None:
        await refuse_writes(FAULT_SECONDS)

    async def hung() -> None:
        os.kill(own_redis.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(FAULT_SECONDS)
        finally:
            os.kill(own_redis.pid, signal.SIGCONT)

    async def restarted_empty() -> None:
        nonlocal redis
        await redis.aclose()
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_redis.start)
        redis = Redis.from_url(own_redis.url)

    async def flood() -> None:
        """More users with unconfirmed invalidations than a process tracks: it must stop
        serving from Redis altogether until the outbox is drained."""
        await redis.config_set("min-replicas-to-write", 1)
        try:
            async with Api(second.api_url, second.webhook_url, second.webhook_secret) as other:
                for person in flooders:
                    paid = await other.transfer(person, sinks[0].phone, 1)
                    assert paid.status_code == 201, paid.text
            await asyncio.sleep(0.5)
        finally:
            await redis.config_set("min-replicas-to-write", 0)

    report: dict[str, dict[str, object]] = {}
    try:
        for name, fault in [
            ("one failed write", one_failed_write),
            ("reads but no writes", reads_but_no_writes),
            ("hung", hung),
            ("restarted empty", restarted_empty),
            ("flood of invalidations", flood),
        ]:
            tally = Tally()
            await _load(clients, processes, tally, fault)
            report[name] = _figures(tally)
            assert tally.stale == [], (name, tally.stale[:10])
            assert tally.server_errors == 0, name
            assert tally.failures == [], (name, tally.failures[:10])
            assert tally.transfers >= MIN_TRANSFERS, (name, "too little money moved")

        tally = Tally()
        await killed_between_commit_and_invalidation(clients[0], first, processes, redis, tally)
        report["writer killed after COMMIT"] = _figures(tally)
        assert tally.stale == [], tally.stale
        assert tally.failures == [], tally.failures
    finally:
        await processes.close()
        await redis.aclose()
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(report, indent=2))


async def killed_between_commit_and_invalidation(
    client: Client, victim: Stack, replicas: Replicas, redis: Redis, tally: Tally
) -> None:
    """Redis hangs writes, so the first process commits a transfer and then waits on its
    invalidation; it is killed there. The client retries with the same key on the other
    process: the replay is the acknowledgement, and every read after it is fresh."""
    await check_reads(client, replicas, tally)  # the old balance is cached now
    survivor = replicas.http[1]
    key = uuid.uuid4().hex
    body = {"to": client.payees[0].phone, "amount": 7}
    headers = {**client.me.auth, "Idempotency-Key": key}
    await redis.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
    attempt = asyncio.create_task(
        replicas.http[0].post("/v1/transfers", json=body, headers=headers)
    )
    committed = False
    for _ in range(200):  # until the transfer is in the database (the process is waiting)
        found = await survivor.get("/v1/transactions?limit=1&kind=p2p", headers=client.me.auth)
        if found.status_code == 200 and found.json()["data"][0]["amount"] == 7:
            committed = True
            break
        await asyncio.sleep(0.01)
    victim.processes[0].send_signal(signal.SIGKILL)
    victim.processes[0].wait()
    replicas.dead.add(0)
    assert committed, "the transfer never reached the database"
    try:
        await attempt
        tally.failures.append("the killed process answered")
    except httpx.HTTPError:
        pass
    await redis.execute_command("CLIENT", "UNPAUSE")
    replayed = await _request(tally, survivor, "POST", "/v1/transfers", json=body, headers=headers)
    assert replayed.status_code == 201, replayed.text
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    client.expected -= 7
    client.last_transaction = replayed.json()["id"]
    client.last_payee = client.payees[0].id
    await check_reads(client, replicas, tally)


def _figures(tally: Tally) -> dict[str, object]:
    return {
        "requests": tally.requests,
        "transfers": tally.transfers,
        "stale_reads": len(tally.stale),
        "failures": len(tally.failures),
        "http_500": tally.server_errors,
    }
