"""``make bench``: every scenario against a baseline measured in the same run, alternating
baseline and subject (A B A B) and reporting the median ratio. Writes ``bench/results.json``
and prints a table. See ../shared conventions: ratios hold on a noisy machine, absolutes don't.

Environment: OKANE_BENCH_SECONDS (per run at 64 clients, default 10; half that at 1 and 8),
OKANE_BENCH_WARM_USERS (100000), OKANE_BENCH_LARGE_POSTINGS (10000000), OKANE_BENCH_ROUNDS (3),
SCENARIO (one of transfers, reads, warm, growth; default all: ``make bench SCENARIO=transfers``).

Transfers are measured over the client sweep (1, 8, 64) with fsync off and again with durable
commits (fsync, synchronous_commit and full_page_writes on), against two baselines each:
pgbench running the same ledger transaction as raw SQL (bench/pgbench/transfer.sql, one client
transaction per transfer) and pgbench calling the function the service calls, one transfer per
call (bench/pgbench/function.sql); at 64 clients also in batches of the size the service formed
(bench/pgbench/function_batch.sql). A run with an answer that is not 2xx, or whose successful
transfers fall below MIN_SUCCESS of its requests, fails the bench.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from redis import Redis

from bench.harness import (
    ROOT,
    LoadResult,
    Server,
    Watch,
    ensure_wrk,
    postgres_processes,
    process_tree,
    run_pgbench,
    run_wrk,
    start_uvicorn,
)
from bench.seed import seed_transfers, seed_users
from okane_core.db.engine import create_engine, create_session_factory
from okane_core.db.migrate import upgrade
from okane_core.ledger.reconcile import reconcile
from okane_core.localstack import LocalStack, free_port
from okane_core.settings import load_settings
from okane_user_api.auth.tokens import TokenIssuer, hash_refresh_token

SECONDS = float(os.environ.get("OKANE_BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("OKANE_BENCH_ROUNDS", "3"))
SCENARIO = os.environ.get("SCENARIO", "")
WALLETS = 1000
CLIENTS = 64
CLIENT_SWEEP = (1, 8, 64)
# The wrk mix: 1 in 20 requests replays, 1 in 25 of the rest is refused for funds (recorded).
MIN_SUCCESS = 0.8
USER_API_WORKERS = 2
WARM_USERS = int(os.environ.get("OKANE_BENCH_WARM_USERS", "100000"))
LARGE_POSTINGS = int(os.environ.get("OKANE_BENCH_LARGE_POSTINGS", "10000000"))
SMALL_POSTINGS = 10_000
JWT_SECRET = "bench-" + "s" * 42
OUT = ROOT / "bench" / "out"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


class Bench:
    def __init__(self, stack: LocalStack) -> None:
        assert stack.postgres is not None and stack.redis is not None
        self.stack = stack
        self.pg_port = stack.postgres.port
        self.redis_url = stack.redis.url
        self.results: list[dict[str, Any]] = []
        self.servers: list[Server] = []

    # --- databases ------------------------------------------------------------------------

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://okane@127.0.0.1:{self.pg_port}/{db}"

    def conninfo(self, db: str) -> dict[str, str]:
        return {"host": "127.0.0.1", "port": str(self.pg_port), "user": "okane", "dbname": db}

    def connect(self, db: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.pg_port, user="okane", dbname=db, autocommit=True
        )

    def create_database(self, db: str, users: int, transfers: int = 0) -> None:
        with self.connect("okane") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{db}"')
        upgrade(self.url(db))
        started = time.monotonic()
        with self.connect(db) as conn:
            seed_users(conn, users)
            step = 1_000_000
            done = 0
            while done < transfers:
                seed_transfers(conn, min(step, transfers - done))
                done += step
            conn.execute("VACUUM ANALYZE")
        log(
            f"seeded {db}: {users} users, {transfers} transfers "
            f"in {time.monotonic() - started:.0f} s"
        )

    def check_ledger(self, db: str) -> int:
        async def check() -> int:
            settings = load_settings(database_url=self.url(db))
            engine = create_engine(settings, self.url(db))
            try:
                async with create_session_factory(engine)() as s, s.begin():
                    report = await reconcile(s)
            finally:
                await engine.dispose()
            for violation in report.violations[:5]:
                log(f"VIOLATION {violation}")
            return len(report.violations)

        return asyncio.run(check())

    def tokens(self, db: str, path: Path) -> list[tuple[str, str, str]]:
        """Sign every seeded user in (a session row and an access token each)."""
        issuer = TokenIssuer(JWT_SECRET, lifetime_seconds=6 * 3600)
        rows = []
        with self.connect(db) as conn:
            users = conn.execute(
                "SELECT u.id, u.phone FROM users u JOIN accounts a ON a.user_id = u.id "
                "ORDER BY a.id"
            ).fetchall()
            with conn.cursor().copy(
                "COPY auth_sessions (id, user_id, refresh_token_hash, method, expires_at) "
                "FROM STDIN"
            ) as copy:
                for user_id, phone in users:
                    session_id = uuid.uuid4()
                    copy.write_row(
                        (
                            session_id,
                            user_id,
                            hash_refresh_token(uuid.uuid4().hex),
                            "bench",
                            datetime(2099, 1, 1, tzinfo=UTC),
                        )
                    )
                    rows.append(
                        (issuer.issue(user_id, session_id, is_admin=False), phone, str(user_id))
                    )
        path.write_text("".join(f"{token} {phone}\n" for token, phone, _ in rows))
        return rows

    # --- servers --------------------------------------------------------------------------

    def user_api(self, name: str, db: str, **extra: str) -> Server:
        env = {
            "OKANE_DATABASE_URL": self.url(db),
            "OKANE_REDIS_URL": self.redis_url,
            "OKANE_JWT_SECRET": JWT_SECRET,
            "OKANE_DB_POOL_SIZE": "20",
            "OKANE_DB_MAX_OVERFLOW": "50",
            "OKANE_LOG_LEVEL": "WARNING",
            # Load clients pay thousands of people they never paid before: the limit on new
            # payees (on by default) would refuse most of them; 0 turns it off.
            "OKANE_PAYEE_LOOKUPS_PER_WINDOW": "0",
            "OKANE_VERIFY_CONTACTS": "off",  # bench users are created without codes
            **extra,
        }
        server = start_uvicorn(
            name,
            "okane_user_api.app:create_app",
            env,
            OUT / "logs",
            workers=USER_API_WORKERS,
            metrics=OUT / "metrics" / name,
        )
        self.servers.append(server)
        return server

    def warm(self, db: str, redis_url: str, *args: str) -> dict[str, Any]:
        """Run ``okane warm`` as an operator would; its summary (the last line of stdout)."""
        done = subprocess.run(
            [sys.executable, "-m", "okane_core.cli", "warm", *args],
            env={**os.environ, "OKANE_DATABASE_URL": self.url(db), "OKANE_REDIS_URL": redis_url},
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"okane warm failed:\n{done.stderr[-4000:]}")
        summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return summary

    def watch(self, server: Server | None) -> Watch:
        groups = {"postgres": postgres_processes(self.pg_port)}
        assert self.stack.redis is not None and self.stack.redis._proc is not None
        groups["redis"] = [psutil.Process(self.stack.redis._proc.process.pid)]
        if server is not None:
            groups["server"] = process_tree(server.process.pid)
        return Watch(groups)

    def statements(self, server: Server) -> float:
        text = httpx.get(server.url + "/metrics").text
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("okane_db_statements_total")
        )

    # --- reporting ------------------------------------------------------------------------

    def record(
        self,
        name: str,
        baseline: str,
        runs: list[tuple[LoadResult, LoadResult]],
        ratio_key: str,
        note: str,
        **extra: Any,
    ) -> None:
        ratios = [s.throughput / b.throughput for b, s in runs]
        latency = [s.p50_ms / b.p50_ms for b, s in runs]
        subject = runs[-1][1]
        entry = {
            "scenario": name,
            "baseline": baseline,
            ratio_key: round(statistics.median(ratios), 3),
            "p50_latency_ratio": round(statistics.median(latency), 3),
            "subject": _usage(subject),
            "baseline_run": _usage(runs[-1][0]),
            "rounds": [
                {
                    "baseline_throughput": round(b.throughput, 1),
                    "subject_throughput": round(s.throughput, 1),
                }
                for b, s in runs
            ],
            "note": note,
            **extra,
        }
        self.results.append(entry)
        log(
            f"{name}: {ratio_key} {entry[ratio_key]} ({subject.throughput:.0f}/s, "
            f"p50 {subject.p50_ms:.1f} ms, p99 {subject.p99_ms:.1f} ms)"
        )


def _usage(result: LoadResult) -> dict[str, Any]:
    """A run as reported: its figures plus milliseconds of CPU per operation, per process
    group (server, postgres, redis, load generator)."""
    done = max(result.requests, 1)
    return asdict(result) | {
        "cpu_ms_per_op": {k: round(v / done * 1000, 3) for k, v in result.cpu.items()}
    }


def set_durability(bench: Bench, *, durable: bool) -> None:
    """fsync, synchronous_commit and full_page_writes on (durable) or off, for every session
    (each is reloadable, so the server keeps running)."""
    value = "on" if durable else "off"
    with bench.connect("okane") as conn:
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {name} = {value}")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(1)


def successful_transfers(bench: Bench, db: str) -> int:
    with bench.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM transactions WHERE kind = 'p2p' AND status = 'success'"
        ).fetchone()
    return int(row[0]) if row else 0


def batch_histogram(server: Server) -> dict[str, float]:
    """The transfer batcher's batch-size histogram on this server (cumulative buckets)."""
    found: dict[str, float] = {}
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith("okane_db_batch_size") and 'kind="transfers"' in line:
            name, value = line.rsplit(" ", 1)
            if "_bucket" in name:
                found[name.split('le="')[1].split('"')[0]] = float(value)
            elif name.startswith("okane_db_batch_size_sum"):
                found["sum"] = float(value)
            elif name.startswith("okane_db_batch_size_count"):
                found["count"] = float(value)
    return found


def batch_sizes(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """What one run formed: batches sent, mean size, and how many batches fell in each bucket."""
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    count = delta.pop("count", 0.0)
    total = delta.pop("sum", 0.0)
    buckets = sorted(((k, v) for k, v in delta.items()), key=lambda kv: float(kv[0]))
    distribution, below = {}, 0.0
    for bound, cumulative in buckets:
        distribution[f"<={bound}"] = int(cumulative - below)
        below = cumulative
    return {
        "batches": int(count),
        "mean": round(total / count, 2) if count else 0.0,
        "distribution": distribution,
    }


def checked_http_run(
    bench: Bench, db: str, api: Server, seconds: float, clients: int, env: dict[str, str]
) -> tuple[LoadResult, dict[str, Any]]:
    """One wrk run of transfers; fails on any non-2xx answer, or when refusals pass for
    throughput (successful transfers below MIN_SUCCESS of requests)."""
    before_ok, before_batches = successful_transfers(bench, db), batch_histogram(api)
    result = run_wrk(api.url, "transfer.lua", seconds, clients, env, bench.watch(api))
    moved = successful_transfers(bench, db) - before_ok
    if result.errors:
        raise RuntimeError(f"{result.errors} answers were not 2xx ({api.name}, {clients} clients)")
    if moved < MIN_SUCCESS * result.requests:
        raise RuntimeError(
            f"only {moved} of {result.requests} transfers moved money ({clients} clients)"
        )
    sizes = batch_sizes(before_batches, batch_histogram(api))
    return result, {"moved": moved, "requests": result.requests, "batch_sizes": sizes}


def scenario_transfers(bench: Bench, users_file: Path) -> None:
    """HTTP transfers vs pgbench running the same ledger transaction as raw SQL, and vs the
    database function itself, over the client sweep, with fsync off and with durable commits;
    then a hot recipient."""
    db = "okane"
    with bench.connect(db) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_wallets")
        conn.execute(
            "CREATE TABLE bench_wallets AS SELECT row_number() OVER (ORDER BY a.id) AS n, "
            "a.user_id, u.phone, (SELECT s.id FROM auth_sessions s WHERE s.user_id = u.id "
            "LIMIT 1) AS session_id FROM accounts a JOIN users u ON u.id = a.user_id"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_wallets (n)")
    # The raw-SQL baseline writes the ledger as the service did before the daily counters
    # (it sums the day's history and keeps no counter), so it runs in a copy of the seeded
    # database: the ledger check after the runs covers only what OKANE's own code wrote there.
    sql_db = "okane_sql"
    with bench.connect("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{sql_db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{sql_db}" TEMPLATE "{db}"')
    api = bench.user_api("user-api", db)
    env = {"OKANE_BENCH_USERS": str(users_file)}
    scripts = ROOT / "bench" / "pgbench"

    def pgbench(script: str, seconds: float, clients: int, **variables: int) -> LoadResult:
        return run_pgbench(
            bench.conninfo(sql_db if script == "transfer.sql" else db),
            scripts / script,
            seconds,
            clients,
            {"wallets": WALLETS, **variables},
            bench.watch(None),
            OUT / "pgbench",
        )

    # Warm up every path once.
    run_wrk(api.url, "transfer.lua", 3, CLIENTS, env, bench.watch(api))
    for script in ("transfer.sql", "function.sql"):
        pgbench(script, 3, CLIENTS)
    for durable in (False, True):
        set_durability(bench, durable=durable)
        mode = "durable" if durable else "fsync_off"
        for clients in CLIENT_SWEEP:
            seconds = SECONDS if clients == CLIENTS else max(SECONDS / 2, 3)
            rounds: list[dict[str, Any]] = []
            subject: LoadResult | None = None
            base: LoadResult | None = None
            for _ in range(ROUNDS):
                base = pgbench("transfer.sql", seconds, clients)
                subject, checked = checked_http_run(bench, db, api, seconds, clients, env)
                floor = pgbench("function.sql", seconds, clients)
                round_ = {
                    "pgbench_sql": round(base.throughput, 1),
                    "http": round(subject.throughput, 1),
                    "pgbench_function": round(floor.throughput, 1),
                    "http_p50_ms": round(subject.p50_ms, 1),
                    "http_p99_ms": round(subject.p99_ms, 1),
                    **checked,
                }
                if clients == CLIENTS:
                    size = max(1, round(checked["batch_sizes"]["mean"]))
                    batched = pgbench("function_batch.sql", seconds, clients, batch=size)
                    round_["pgbench_function_batch"] = round(batched.throughput * size, 1)
                    round_["pgbench_function_batch_size"] = size
                rounds.append(round_)
            assert subject is not None and base is not None
            bench.results.append(transfer_entry(mode, clients, rounds, subject, base))
    set_durability(bench, durable=False)
    hot_phone = users_file.read_text().splitlines()[0].split()[1]
    hot_runs = []
    for _ in range(ROUNDS):
        uniform, _ = checked_http_run(bench, db, api, SECONDS, CLIENTS, env)
        hot, _ = checked_http_run(
            bench, db, api, SECONDS, CLIENTS, env | {"OKANE_BENCH_HOT": hot_phone}
        )
        hot_runs.append((uniform, hot))
    bench.record(
        "p2p_transfers_hot_recipient",
        "the uniform case (same run)",
        hot_runs,
        "ratio_vs_uniform",
        f"{CLIENTS} clients all paying one merchant",
    )
    violations = bench.check_ledger(db)
    for entry in bench.results:
        if entry["scenario"].startswith("p2p_transfers"):
            entry["ledger_violations"] = violations
    if violations:
        raise RuntimeError(
            f"the ledger check after the transfer runs found {violations} violations"
        )


def transfer_entry(
    mode: str, clients: int, rounds: list[dict[str, Any]], subject: LoadResult, base: LoadResult
) -> dict[str, Any]:
    def ratios(baseline: str) -> list[float]:
        return [r["http"] / r[baseline] for r in rounds if r.get(baseline)]

    entry: dict[str, Any] = {
        "scenario": f"p2p_transfers_http_{mode}_{clients}c",
        "baseline": "pgbench: the same ledger transaction as raw SQL (transfer.sql)",
        "ratio_vs_pgbench": round(statistics.median(ratios("pgbench_sql")), 3),
        "lowest_round_ratio_vs_pgbench": round(min(ratios("pgbench_sql")), 3),
        "ratio_vs_function": round(statistics.median(ratios("pgbench_function")), 3),
    }
    if clients == CLIENTS:
        entry["ratio_vs_function_batch"] = round(
            statistics.median(ratios("pgbench_function_batch")), 3
        )
    entry |= {
        "clients": clients,
        "durability": mode,
        "subject": _usage(subject),
        "baseline_run": _usage(base),
        "rounds": rounds,
        "note": f"{clients} clients over {WALLETS} wallets, 1 paisa each; the wrk mix "
        "replays 1 request in 20 and asks for too much in 1 in 25 of the rest",
    }
    log(
        f"{entry['scenario']}: ratio_vs_pgbench {entry['ratio_vs_pgbench']} "
        f"(lowest {entry['lowest_round_ratio_vs_pgbench']}), ratio_vs_function "
        f"{entry['ratio_vs_function']}, {subject.throughput:.0f}/s, p50 {subject.p50_ms:.1f} ms"
    )
    return entry


def scenario_cached_reads(bench: Bench, users_file: Path) -> None:
    db = "okane"
    cached = next((s for s in bench.servers if s.name == "user-api"), None) or bench.user_api(
        "user-api", db
    )
    uncached = bench.user_api("user-api-no-cache", db, OKANE_CACHE_ENABLED="false")
    bare = start_uvicorn(
        "bare",
        "bench.bare_app:create_app",
        {"OKANE_REDIS_URL": bench.redis_url},
        OUT / "logs",
        workers=USER_API_WORKERS,
    )
    bench.servers.append(bare)
    env = {"OKANE_BENCH_USERS": str(users_file), "OKANE_BENCH_PATH": "/v1/wallet"}
    # A cached read is one whose entry is in Redis: warm every balance first, as an operator
    # would (the transfer runs before this one tombstoned most of them).
    bench.warm(db, bench.redis_url, "--targets", "balances")
    for server in (cached, uncached, bare):
        run_wrk(server.url, "get.lua", 3, CLIENTS, env, bench.watch(server))
    runs, uncached_runs = [], []
    statements: list[float] = []
    requests = 0
    for _ in range(ROUNDS):
        base = run_wrk(bare.url, "get.lua", SECONDS, CLIENTS, env, bench.watch(bare))
        before = bench.statements(cached)
        subject = run_wrk(cached.url, "get.lua", SECONDS, CLIENTS, env, bench.watch(cached))
        statements.append(bench.statements(cached) - before)
        requests += subject.requests
        runs.append((base, subject))
        uncached_runs.append(
            (base, run_wrk(uncached.url, "get.lua", SECONDS, CLIENTS, env, bench.watch(uncached)))
        )
    bench.record(
        "cached_wallet_read",
        "bare ASGI endpoint doing one Redis GET (same stack)",
        runs,
        "ratio_vs_bare_redis_get",
        "GET /v1/wallet, authenticated, served from Redis",
        db_queries_per_read=round(sum(statements) / max(requests, 1), 4),
        db_queries_per_round=statements,
    )
    bench.record(
        "uncached_wallet_read",
        "bare ASGI endpoint doing one Redis GET (same stack)",
        uncached_runs,
        "ratio_vs_bare_redis_get",
        "GET /v1/wallet with the cache disabled",
    )


def scenario_warm(bench: Bench) -> None:
    db = "okane_warm"
    # Two transfers per user: history and contacts have content, statistics look like real use.
    bench.create_database(db, WARM_USERS, 2 * WARM_USERS)
    redis_url = bench.redis_url.rsplit("/", 1)[0] + "/2"
    redis = Redis.from_url(redis_url)
    warm_times, floor_times, summary = [], [], {}
    for _ in range(ROUNDS):
        redis.flushdb()
        started = time.monotonic()
        floor_keys = warm_floor(bench.connect(db), redis)
        floor_times.append(time.monotonic() - started)
        redis.flushdb()
        started = time.monotonic()
        summary = bench.warm(db, redis_url)
        warm_times.append(time.monotonic() - started)
    redis.close()
    ratio = statistics.median(f / w for f, w in zip(floor_times, warm_times, strict=True))
    entry = {
        "scenario": "okane_warm",
        "baseline": "COPY of the same rows + pipelined SETs of the same count",
        "ratio_vs_floor": round(ratio, 3),
        "users": WARM_USERS,
        "keys": sum(summary["targets"].values()),
        "floor_keys": floor_keys,
        "warm_seconds": [round(t, 2) for t in warm_times],
        "floor_seconds": [round(t, 2) for t in floor_times],
        "summary": summary,
        "note": "ratio = floor time / warm time (1.0 would be the floor itself)",
    }
    bench.results.append(entry)
    log(
        f"okane_warm: {WARM_USERS} users, {entry['keys']} keys in {warm_times[-1]:.1f} s; "
        f"ratio_vs_floor {entry['ratio_vs_floor']}"
    )


def warm_floor(conn: psycopg.Connection, redis: Redis) -> int:
    """Read the rows warm reads with COPY, and SET as many keys (one per user and target),
    pipelined in batches of the same size."""
    payloads: dict[str, list[object]] = {}
    with conn.cursor() as cur:
        with cur.copy(
            "COPY (SELECT user_id, id, version, available, locked, currency FROM accounts "
            "WHERE kind = 'wallet') TO STDOUT"
        ) as copy:
            for row in copy.rows():
                payloads[f"floor:{{user:{row[0]}}}:balance"] = list(row)
                payloads[f"floor:{{user:{row[0]}}}:contacts"] = []
        with cur.copy(
            "COPY (SELECT id, name, phone, email, version, created_at FROM users) TO STDOUT"
        ) as copy:
            for row in copy.rows():
                payloads[f"floor:{{user:{row[0]}}}:profile"] = list(row)
        with cur.copy(
            "COPY (SELECT a.user_id, t.* FROM transactions t JOIN accounts a "
            "ON a.id IN (t.debit_account_id, t.credit_account_id) WHERE a.kind = 'wallet') "
            "TO STDOUT"
        ) as copy:
            for row in copy.rows():
                page = payloads.setdefault(f"floor:{{user:{row[0]}}}:history", [])
                assert isinstance(page, list)
                if len(page) < 20:
                    page.append(row[1:])
    conn.close()
    items = list(payloads.items())
    for start in range(0, len(items), 4000):
        pipe = redis.pipeline(transaction=False)
        for key, value in items[start : start + 4000]:
            pipe.set(key, json.dumps(value, default=str).encode(), px=600_000)
        pipe.execute()
    return len(items)


def scenario_growth(bench: Bench) -> None:
    """Balance and history read latency at 10k and at LARGE_POSTINGS postings: both databases
    side by side, one server each (cache off), measured alternately (small, large, small,
    large) so that a slow moment of the machine does not land on one side only."""
    servers: dict[str, Server] = {}
    users: dict[str, Path] = {}
    postings: dict[str, int] = {}
    for label, size in (("small", SMALL_POSTINGS), ("large", LARGE_POSTINGS)):
        db = f"okane_{label}"
        bench.create_database(db, WALLETS, max(size // 2 - WALLETS, 0))
        users[label] = OUT / f"users-{label}.txt"
        bench.tokens(db, users[label])
        with bench.connect(db) as conn:
            count = conn.execute("SELECT count(*) FROM postings").fetchone()
        postings[label] = int(count[0]) if count else 0
        servers[label] = bench.user_api(f"user-api-{label}", db, OKANE_CACHE_ENABLED="false")
    reads = (("/v1/wallet", "balance"), ("/v1/transactions?limit=20&kind=p2p", "history"))

    def measure(label: str, path: str, seconds: float) -> LoadResult:
        env = {"OKANE_BENCH_USERS": str(users[label]), "OKANE_BENCH_PATH": path}
        api = servers[label]
        return run_wrk(api.url, "get.lua", seconds, 16, env, bench.watch(api))

    for path, _ in reads:
        for label in servers:
            measure(label, path, 3)  # warm-up
    runs: dict[str, list[tuple[LoadResult, LoadResult]]] = {name: [] for _, name in reads}
    for _ in range(ROUNDS):
        for path, name in reads:
            small = measure("small", path, SECONDS)
            runs[name].append((small, measure("large", path, SECONDS)))
    for server in servers.values():
        server.stop()
        bench.servers.remove(server)
    for _, name in reads:
        pairs = runs[name]
        small, large = pairs[-1]
        entry = {
            "scenario": f"{name}_read_growth",
            "baseline": f"the same read at {postings['small']} postings",
            "p50_growth_ratio": _median_ratio(pairs, "p50_ms"),
            "p99_growth_ratio": _median_ratio(pairs, "p99_ms"),
            "throughput_ratio": _median_ratio(pairs, "throughput"),
            "rounds": [
                {"small_p50_ms": round(a.p50_ms, 1), "large_p50_ms": round(b.p50_ms, 1)}
                for a, b in pairs
            ],
            "small": _usage(small),
            "large": _usage(large),
            "postings": postings,
            "note": "cache disabled: every read goes to PostgreSQL",
        }
        bench.results.append(entry)
        log(
            f"{name} growth: p50 x{entry['p50_growth_ratio']} from {postings['small']} "
            f"to {postings['large']} postings"
        )


def _median_ratio(pairs: list[tuple[LoadResult, LoadResult]], figure: str) -> float:
    """Median over rounds of subject / baseline for one figure of a LoadResult."""
    ratios = [float(getattr(b, figure)) / float(getattr(a, figure)) for a, b in pairs]
    return round(statistics.median(ratios), 3)


@contextmanager
def seeded_bench() -> Iterator[tuple[Bench, Path]]:
    """A private PostgreSQL and Redis (fsync off) with WALLETS signed-in wallets in the
    ``okane`` database. On exit: every server started through the Bench is stopped, then the
    stack, and its data directory is deleted (gigabytes at 10M postings)."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = ROOT / ".okane" / "bench"
    shutil.rmtree(data, ignore_errors=True)
    stack = LocalStack(
        load_settings(database_url=None, redis_url=None),
        data_dir=data,
        postgres_port=free_port(),
        redis_port=free_port(),
        durable=True,  # fsync is switched per scenario (set_durability), not fixed at start
    )
    with stack:
        bench = Bench(stack)
        try:
            set_durability(bench, durable=False)
            upgrade(bench.url("okane"))
            with bench.connect("okane") as conn:
                seed_users(conn, WALLETS)
                conn.execute("VACUUM ANALYZE")
            users_file = OUT / "users.txt"
            bench.tokens("okane", users_file)
            yield bench, users_file
        finally:
            for server in bench.servers:
                server.stop()
    shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ensure_wrk()
    started = time.monotonic()
    chosen = {SCENARIO} if SCENARIO else {"transfers", "reads", "warm", "growth"}
    unknown = chosen - {"transfers", "reads", "warm", "growth"}
    if unknown:
        raise SystemExit(f"SCENARIO must be one of transfers, reads, warm, growth: {unknown}")
    with seeded_bench() as (bench, users_file):
        if "transfers" in chosen:
            scenario_transfers(bench, users_file)
        if "reads" in chosen:
            scenario_cached_reads(bench, users_file)
        for server in list(bench.servers):
            server.stop()
        bench.servers.clear()
        if "warm" in chosen:
            scenario_warm(bench)
        if "growth" in chosen:
            scenario_growth(bench)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "seconds_per_run": SECONDS,
        "rounds": ROUNDS,
        "scenarios_run": sorted(chosen),
        "user_api_workers": USER_API_WORKERS,
        "total_seconds": round(time.monotonic() - started),
        "scenarios": bench.results,
    }
    for entry in bench.results:
        entry |= {"date": report["date"], "commit": commit}
    path = ROOT / "bench" / "results.json"
    if SCENARIO and path.exists():
        # One scenario: its entries replace the earlier ones; the others keep their own date.
        earlier = json.loads(path.read_text())
        families = {_family(e["scenario"]) for e in bench.results}
        kept = [e for e in earlier.get("scenarios", []) if _family(e["scenario"]) not in families]
        report["scenarios"] = kept + bench.results
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))


def _family(scenario: str) -> str:
    for prefix, family in (
        ("p2p_transfers", "transfers"),
        ("cached_", "reads"),
        ("uncached_", "reads"),
        ("okane_warm", "warm"),
    ):
        if scenario.startswith(prefix):
            return family
    return "growth"


def table(report: dict[str, Any]) -> str:
    """The README's table: one line per scenario, the ratio first."""
    lines = [
        f"OKANE benchmarks, {report['date']} (commit {report['commit']}, {report['cores']} cores)",
        "",
        "| scenario | ratio | value | ops/s | p50 ms | p99 ms | CPU ms/op server + postgres "
        "| peak RSS MB server / postgres backend | baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in report["scenarios"]:
        key = next(k for k in entry if "ratio" in k)
        run = entry.get("subject") or entry.get("large")
        if run is None:  # okane warm: keys written per second
            seconds = statistics.median(entry["warm_seconds"])
            lines.append(
                f"| {entry['scenario']} | {key} | {entry[key]} | {entry['keys'] / seconds:.0f} "
                f"keys | {seconds:.1f} s per run | | | | {entry['baseline']} |"
            )
            continue
        cpu = run["cpu_ms_per_op"]
        memory = run["memory_mb"]
        server_mb = memory.get("server", {}).get("peak_rss_largest_process", 0)
        postgres_mb = memory.get("postgres", {}).get("peak_rss_largest_process", 0)
        lines.append(
            f"| {entry['scenario']} | {key} | {entry[key]} | {run['throughput']:.0f} | "
            f"{run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
            f"{cpu.get('server', 0):.2f} + {cpu.get('postgres', 0):.2f} | "
            f"{server_mb:.0f} / {postgres_mb:.0f} | {entry['baseline']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
