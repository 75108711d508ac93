"""Test infrastructure: a real PostgreSQL and Redis for the whole session.

Without ``OKANE_DATABASE_URL`` / ``OKANE_REDIS_URL`` the suite starts its own servers on free
ports (data under ``.okane/test``). Migrations run once into a template database; each test that
asks for ``database_url`` gets a fresh copy of it (``CREATE DATABASE ... TEMPLATE``), so tests are
isolated and a reconciliation covers exactly what the test did.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from okane_core.db.engine import SessionFactory, create_engine, create_session_factory
from okane_core.db.migrate import upgrade
from okane_core.ledger.book import Ledger
from okane_core.localstack import Endpoints, LocalRedis, LocalStack, free_port
from okane_core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


def _admin_conninfo(url: str, dbname: str = "postgres") -> str:
    """A libpq URL for maintenance commands (CREATE/DROP DATABASE)."""
    admin = make_url(url).set(drivername="postgresql", database=dbname)
    return admin.render_as_string(hide_password=False)


_RUNNING: list[LocalStack] = []


def pytest_configure(config: pytest.Config) -> None:
    """The servers the suite starts run in sessions of their own, so a SIGTERM to pytest alone
    would leave them behind: stop them, then exit as SIGTERM would have."""

    def terminate(signum: int, frame: object) -> None:
        for stack in _RUNNING:
            stack.stop()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    settings = load_settings()
    data_dir = ROOT / ".okane" / "test"
    if settings.database_url is None or settings.redis_url is None:
        shutil.rmtree(data_dir, ignore_errors=True)
    with LocalStack(
        settings,
        data_dir=data_dir,
        postgres_port=free_port(),
        redis_port=free_port(),
        durable=False,
    ) as stack:
        _RUNNING.append(stack)
        yield stack.endpoints
        _RUNNING.remove(stack)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    """A Redis of the module's own, for tests that stop, pause or restart it."""
    server = LocalRedis(tmp_path_factory.mktemp("redis") / "data", free_port())
    server.start()
    yield server
    if server.running:
        os.kill(server.pid, signal.SIGCONT)  # a test that failed while it was paused
    server.stop()


@pytest.fixture(scope="session")
def template_database(endpoints: Endpoints) -> str:
    """A database migrated to head, copied by every test that needs a database."""
    name = f"okane_template_{os.getpid()}"
    with psycopg.connect(_admin_conninfo(endpoints.database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(endpoints.database_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return name


@pytest.fixture
def database_url(endpoints: Endpoints, template_database: str) -> Iterator[str]:
    name = f"okane_test_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    admin = _admin_conninfo(endpoints.database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield make_url(endpoints.database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, endpoints: Endpoints) -> Settings:
    return load_settings(database_url=database_url, redis_url=endpoints.redis_url)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    assert settings.database_url is not None
    engine = create_engine(settings, settings.database_url, application_name="okane-tests")
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
def ledger(settings: Settings) -> Ledger:
    return Ledger(settings)
