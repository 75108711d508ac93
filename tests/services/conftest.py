"""Real HTTP: user-api and bank-webhook run under uvicorn in their own processes on loopback,
against a database (one per test module) and the session's Redis."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from okane_core.localstack import Endpoints, free_port
from tests.conftest import _admin_conninfo
from tests.services.client import Api
from tests.services.oidc_provider import CLIENT_ID, CLIENT_SECRET, RunningProvider


@dataclass
class Stack:
    api_url: str
    webhook_url: str
    database_url: str
    redis_url: str
    webhook_secret: str
    jwt_secret: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def api(self) -> Api:
        return Api(self.api_url, self.webhook_url, self.webhook_secret)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready:\n{log.read_text()[-3000:]}")


def start_stack(
    database_url: str,
    redis_url: str,
    logs: Path,
    *,
    jwt_secret: str | None = None,
    webhook_secret: str | None = None,
    **overrides: str,
) -> Stack:
    """Start user-api and bank-webhook; replicas of one deployment share the secrets."""
    webhook_secret = webhook_secret or "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    jwt_secret = jwt_secret or secrets.token_urlsafe(48)
    api_port, webhook_port = free_port(), free_port()
    env = {
        **os.environ,
        "OKANE_DATABASE_URL": database_url,
        "OKANE_REDIS_URL": redis_url,
        "OKANE_JWT_SECRET": jwt_secret,
        "OKANE_BANK_WEBHOOK_SECRET": webhook_secret,
        "OKANE_LOGIN_ATTEMPTS_PER_ADDRESS": "100000",
        "OKANE_PAYEE_LOOKUPS_PER_WINDOW": "100000",
        "OKANE_SIGNUPS_PER_ADDRESS": "100000",
        # Black-box clients pay people by phone right after sign-up, without reading the
        # development mailbox; tests of verification start their stacks with "required".
        "OKANE_VERIFY_CONTACTS": "off",
        "OKANE_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        "OKANE_BANK_WEBHOOK_URL": f"http://127.0.0.1:{webhook_port}/webhooks/bank",
        "OKANE_DB_POOL_SIZE": "20",
        **overrides,
    }
    stack = Stack(
        api_url=f"http://127.0.0.1:{api_port}",
        webhook_url=f"http://127.0.0.1:{webhook_port}",
        database_url=database_url,
        redis_url=redis_url,
        webhook_secret=webhook_secret,
        jwt_secret=jwt_secret,
    )
    logs.mkdir(parents=True, exist_ok=True)
    for target, port in (
        ("okane_user_api.app:create_app", api_port),
        ("okane_bank_webhook.app:create_app", webhook_port),
    ):
        log = logs / f"{target.split('.')[0]}-{port}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                target,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        stack.processes.append(process)
        stack.logs.append(log)
    try:
        _wait_ready(stack.api_url, stack.processes[0], stack.logs[0])
        _wait_ready(stack.webhook_url, stack.processes[1], stack.logs[1])
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    for process in stack.processes:
        process.terminate()
    for process in stack.processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for log in stack.logs:
        text = log.read_text(errors="replace")
        # A 500 is a bug: the services log every unhandled error.
        assert "unhandled error" not in text, text[-5000:]


@contextmanager
def two_stacks(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory, **overrides: str
) -> Iterator[tuple[Stack, Stack]]:
    """Two replicas of one deployment (shared secrets, database and Redis), stopped after."""
    first = start_stack(database_url, redis_url, tmp_path_factory.mktemp("r1"), **overrides)
    try:
        second = start_stack(
            database_url,
            redis_url,
            tmp_path_factory.mktemp("r2"),
            jwt_secret=first.jwt_secret,
            webhook_secret=first.webhook_secret,
            **overrides,
        )
    except BaseException:
        stop_stack(first)
        raise
    try:
        yield first, second
    finally:
        stop_stack(second)
        stop_stack(first)


@pytest.fixture(scope="module")
def module_database_url(endpoints: Endpoints, template_database: str) -> Iterator[str]:
    name = f"okane_http_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _admin_conninfo(endpoints.database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield make_url(endpoints.database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url, endpoints.redis_url, tmp_path_factory.mktemp("service-logs")
    )
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def provider() -> Iterator[RunningProvider]:
    """A real OIDC provider on loopback (discovery, JWKS, signed ID tokens)."""
    with RunningProvider() as running:
        yield running


@pytest.fixture(scope="module")
def oidc_stack(
    module_database_url: str,
    endpoints: Endpoints,
    provider: RunningProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Both services, with Google sign-in pointed at ``provider``."""
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("oidc-logs"),
        OKANE_OIDC_ISSUER=provider.state.issuer,
        OKANE_OIDC_CLIENT_ID=CLIENT_ID,
        OKANE_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OKANE_DEV_MAILBOX="true",
    )
    yield running
    stop_stack(running)
