"""A hung Redis (SIGSTOP) costs a process at most one call per breaker window: cache reads and
fills, invalidations, live-event reads, the revocation copy for old replicas and the lease's
epoch check all go through the one breaker. The calls are counted by a proxy in front of the
real, stopped Redis; no timing is asserted."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from okane_core.app.context import build_okane
from okane_core.cache.breaker import BreakerState
from okane_core.cache.client import create_redis
from okane_core.cache.events import EventHub
from okane_core.ledger import transfers
from okane_core.ledger.book import Ledger
from okane_core.localstack import LocalRedis, free_port
from okane_core.settings import Settings
from okane_user_api.auth.revocation import Revocations
from tests.factories import fund, make_user

WORKERS = 8
WINDOWS = 3


class CountingProxy:
    """Forwards TCP to Redis and counts the calls clients make: a call is one round trip, a
    command or a pipeline of them (commands of one connection less than 5 ms apart)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.calls = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        counting = asyncio.create_task(self._pump(reader, up_writer, count=True))
        back = asyncio.create_task(self._pump(up_reader, writer, count=False))
        self._tasks |= {counting, back}
        await asyncio.wait({counting, back}, return_when=asyncio.FIRST_COMPLETED)
        for task in (counting, back):
            task.cancel()
        for stream in (writer, up_writer):
            stream.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        last = -math.inf
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                if count:
                    line = await reader.readline()
                    if not line:
                        return
                    writer.write(line)
                    if line.startswith(b"*"):  # a command: *<n> then n bulk strings
                        now = time.monotonic()
                        self.calls += now - last > 0.005
                        last = now
                        for _ in range(int(line[1:])):
                            header = await reader.readline()
                            body = await reader.readexactly(int(header[1:]) + 2)
                            writer.write(header + body)
                else:
                    data = await reader.read(65536)
                    if not data:
                        return
                    writer.write(data)
                await writer.drain()


async def test_a_hung_redis_gets_at_most_one_call_per_breaker_window(
    settings: Settings, engine: AsyncEngine, ledger: Ledger, own_redis: LocalRedis
) -> None:
    proxy = CountingProxy(own_redis.port)
    await proxy.start()
    redis = create_redis(f"redis://127.0.0.1:{proxy.port}/0")
    okane = build_okane(settings, engine, redis)
    await okane.start()
    store = okane.cache.store
    hub = EventHub(redis, store.breaker)
    revocations = Revocations(redis, okane.uow, okane.cache.lease, store.breaker, ttl_seconds=900)
    try:
        sessions = okane.uow.sessions
        people = [await make_user(sessions, ledger) for _ in range(WORKERS + 1)]
        for person in people:
            await fund(sessions, ledger, person.id, 100_000)
        moved = 0

        async def work(me: uuid.UUID, until: float) -> None:
            nonlocal moved
            while time.monotonic() < until:
                await okane.cache.reads.wallet(me)  # get, then fill
                await okane.cache.reads.profile(me)
                await okane.uow.write(  # the commit hook: tombstones and events
                    lambda s: transfers.transfer(
                        ledger,
                        s,
                        user_id=me,
                        to=str(people[-1].id),
                        amount=1,
                        idempotency_key=uuid.uuid4().hex,
                    )
                )
                moved += 1
                with contextlib.suppress(Exception):
                    await hub.read_after(me, "0-0")

        os.kill(own_redis.pid, signal.SIGSTOP)
        before = proxy.calls
        # Until the breaker opens: each worker's calls time out once or so.
        await asyncio.gather(*(work(p.id, time.monotonic() + 1.0) for p in people[:WORKERS]))
        assert store.breaker.state is not BreakerState.CLOSED
        opened, started = proxy.calls, time.monotonic()
        seconds = WINDOWS * store.breaker.cooldown
        await asyncio.gather(
            *(work(p.id, time.monotonic() + seconds) for p in people[:WORKERS]),
            revocations.publish(people[0].id, uuid.uuid4()),
        )
        windows = math.ceil((time.monotonic() - started) / store.breaker.cooldown)
        after_open = proxy.calls - opened
        assert opened - before <= 2 * WORKERS, "too many calls before the breaker opened"
        assert after_open <= windows + 1, (after_open, windows)  # one probe per window
        assert moved >= WORKERS * WINDOWS, "the work itself must go on"
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)
        await okane.close()
        await redis.aclose()
        await proxy.stop()
