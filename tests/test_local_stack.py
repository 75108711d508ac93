"""`make up` (``okane up``): the whole stack from nothing, and a clean stop on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from okane_core.localstack import free_port, port_open


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_okane_up_serves_and_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    ports = {name: free_port() for name in ("pg", "redis", "api", "webhook")}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"OKANE_DATABASE_URL", "OKANE_REDIS_URL"}
    }
    env |= {
        "OKANE_DATA_DIR": str(tmp_path / "data"),
        "OKANE_LOCAL_POSTGRES_PORT": str(ports["pg"]),
        "OKANE_LOCAL_REDIS_PORT": str(ports["redis"]),
        "OKANE_USER_API_PORT": str(ports["api"]),
        "OKANE_BANK_WEBHOOK_PORT": str(ports["webhook"]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "okane_core.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        ready: set[str] = set()
        while time.monotonic() < deadline and ready != {"api", "webhook"}:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            for name in ("api", "webhook"):
                try:
                    response = httpx.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=1)
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    ready.add(name)
            time.sleep(0.2)
        assert ready == {"api", "webhook"}
        assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
        process.send_signal(stop_signal)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for name, port in ports.items():
        assert not port_open(port), f"{name} still listening after the stack stopped"
