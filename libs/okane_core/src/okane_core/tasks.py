"""Stopping a process's background loops (trust lease, notification dispatcher)."""

from __future__ import annotations

import asyncio


async def stop_surely(task: asyncio.Task[None], *, every: float = 1.0) -> None:
    """Cancel ``task`` until it has ended. On Python 3.11 a cancellation that arrives as a
    timeout inside the task fires (``asyncio.timeout``, ``wait_for``, as Redis and database
    clients use) can be swallowed, and a loop then runs on while its stopper waits forever:
    seen as a shutdown that hangs with the lease still renewing. So cancel again every
    ``every`` seconds until the task is done."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
