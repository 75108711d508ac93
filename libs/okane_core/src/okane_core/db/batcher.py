"""Group commit for one process: concurrent requests of one kind leave for the database together.

While one batch is in the database the next one gathers; it leaves as soon as the database is
free, with no timer, so a lone request waits for nothing. Each batch is one statement on a raw
psycopg connection in autocommit mode (the statement is its own transaction, so one commit per
batch), and each request gets its own outcome. Answers leave only after the commit and after
the commit hook (cache invalidation, live events) has run.

A batch that fails as a whole (a deadlock, a lock or statement timeout, a dropped connection) is
split in halves and each half retried, down to the single request that met the problem: only it
fails. A request whose batch's COMMIT outcome is unknown (the connection dropped) is retried on a
new connection; requests are idempotent by key, so a batch that did commit answers as a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import psycopg
from opentelemetry import trace
from psycopg import AsyncConnection

from okane_core.db.errors import (
    DEADLOCK_DETECTED,
    RETRYABLE,
    is_connection_lost,
    sqlstate,
    translate_db_error,
)
from okane_core.errors import DatabaseUnavailable, OkaneError
from okane_core.observability import metrics

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Request = TypeVar("Request")
Outcome = TypeVar("Outcome")

Connect = Callable[[], Awaitable[AsyncConnection[Any]]]
Execute = Callable[[AsyncConnection[Any], Sequence[Request]], Awaitable[list[Outcome]]]
# The commit hook; returns how long the answers must wait (a lease, when Redis did not confirm
# the batch's invalidations), without holding up the next batch.
Committed = Callable[[Sequence[Outcome]], Awaitable[float]]


def _translate(error: BaseException) -> OkaneError:
    """Every batch failure is transient for the caller: the same request may succeed later."""
    return translate_db_error(error) or DatabaseUnavailable(
        "the database is unavailable; try again"
    )


def _resolve(
    batch: list[tuple[Request, asyncio.Future[Outcome]]], outcomes: Sequence[Outcome]
) -> None:
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        if not future.done():
            future.set_result(outcome)


class Batcher(Generic[Request, Outcome]):
    def __init__(
        self,
        connect: Connect,
        execute: Execute[Request, Outcome],
        committed: Committed[Outcome],
        *,
        name: str,
        max_batch: int = 256,
        max_retries: int = 5,
    ) -> None:
        self._connect = connect
        self._execute = execute
        self._committed = committed
        self._name = name
        self._max_batch = max_batch
        self._max_retries = max_retries
        self._queue: list[tuple[Request, asyncio.Future[Outcome]]] = []
        self._links: dict[int, trace.Link] = {}  # id(future) -> the waiting request's span
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._connection: AsyncConnection[Any] | None = None

    async def submit(self, request: Request) -> Outcome:
        """The request's outcome, once its batch committed and the commit hook ran."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        waiting = trace.get_current_span().get_span_context()
        if waiting.is_valid:
            self._links[id(future)] = trace.Link(waiting)
        self._queue.append((request, future))
        self._wake.set()
        if self._worker is None or self._worker.done():
            # A context of its own: batches belong to no single request's trace.
            self._worker = asyncio.create_task(
                self._drain(), name=f"{self._name}-batcher", context=contextvars.Context()
            )
        try:
            return await future
        finally:
            self._links.pop(id(future), None)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for _, future in self._queue:
            if not future.done():
                future.set_exception(DatabaseUnavailable("the service is stopping; try again"))
        self._queue.clear()
        await self._disconnect()

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                pending = [(r, f) for r, f in batch if not f.done()]
                if not pending:
                    continue
                metrics.BATCH_SIZE.labels(self._name).observe(len(pending))
                links = [self._links[id(f)] for _, f in pending if id(f) in self._links]
                # The batch's own trace, linked from (and to) each request it carries.
                with tracer.start_as_current_span(
                    f"{self._name} batch",
                    links=links,
                    attributes={"okane.batch_size": len(pending)},
                ):
                    await self._run(pending, attempt=0)

    async def _run(
        self, batch: list[tuple[Request, asyncio.Future[Outcome]]], *, attempt: int
    ) -> None:
        try:
            connection = await self._connection_for_batch()
            outcomes = await self._execute(connection, [request for request, _ in batch])
        except (psycopg.Error, OSError) as error:
            await self._failed(batch, error, attempt=attempt)
            return
        except Exception as error:  # a bug: fail these requests, keep serving the others
            log.exception("%s batch failed", self._name)
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        metrics.DB_STATEMENTS.inc()
        delay = 0.0
        try:
            delay = await self._committed(outcomes)
        finally:
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, _resolve, batch, outcomes)
            else:
                _resolve(batch, outcomes)

    async def _failed(
        self,
        batch: list[tuple[Request, asyncio.Future[Outcome]]],
        error: BaseException,
        *,
        attempt: int,
    ) -> None:
        state = sqlstate(error)
        lost = (
            isinstance(error, psycopg.OperationalError | OSError) and state is None
        ) or is_connection_lost(error)
        if lost or (self._connection is not None and self._connection.broken):
            await self._disconnect()
        if len(batch) > 1:
            # Split: only the request that meets the problem fails.
            middle = len(batch) // 2
            await self._run(batch[:middle], attempt=attempt)
            await self._run(batch[middle:], attempt=attempt)
            return
        if (lost or state in RETRYABLE) and attempt < self._max_retries:
            metrics.DB_RETRIES.labels(
                "deadlock" if state == DEADLOCK_DETECTED else "serialization" if state else "lost"
            ).inc()
            await asyncio.sleep(min(0.2, 0.005 * 2**attempt) * random.uniform(0.5, 1.5))  # noqa: S311
            await self._run(batch, attempt=attempt + 1)
            return
        log.warning("%s request failed: %s", self._name, error)
        _, future = batch[0]
        if not future.done():
            future.set_exception(_translate(error))

    async def _connection_for_batch(self) -> AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await self._connect()
        return self._connection

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await connection.close()
