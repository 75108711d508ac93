"""Redis clients with short timeouts: Redis trouble costs a request milliseconds, not seconds."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CONNECT_TIMEOUT = 0.25
COMMAND_TIMEOUT = 0.25


BATCH_COMMAND_TIMEOUT = 30.0


def create_redis(
    url: str, *, max_connections: int = 64, command_timeout: float = COMMAND_TIMEOUT
) -> Redis:
    """A pooled async client that never retries on its own (the caller falls back instead).
    Batch jobs (warming) pass a longer ``command_timeout``: one of their pipelines carries
    thousands of commands."""
    return Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=command_timeout,
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
        health_check_interval=0,
        decode_responses=False,
    )
