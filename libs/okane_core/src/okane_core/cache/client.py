"""Redis clients with short timeouts: Redis trouble costs a request milliseconds, not seconds."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CONNECT_TIMEOUT = 0.25
COMMAND_TIMEOUT = 0.25


BATCH_COMMAND_TIMEOUT = 30.0


# Connections per process. A request holds one for a command or a pipeline, so this bounds the
# commands in flight, not the requests served.
MAX_CONNECTIONS = 128


def create_redis(
    url: str, *, max_connections: int = MAX_CONNECTIONS, command_timeout: float = COMMAND_TIMEOUT
) -> Redis:
    """A pooled async client that never retries on its own (the caller falls back instead).
    Batch jobs (warming) pass a longer ``command_timeout``: one of their pipelines carries
    thousands of commands.

    The pool blocks (up to the connect timeout) when every connection is busy: the default
    pool raises "Too many connections" at once, which under a burst of concurrent requests
    sent reads to PostgreSQL although Redis was healthy."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=CONNECT_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=command_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes both
