"""``make profile``: where user-api spends its CPU on the two hot paths.

Starts the same stack as ``make bench`` (private PostgreSQL and Redis, 1,000 signed-in wallets,
user-api with its workers), drives P2P transfers and then cached ``GET /v1/wallet`` with wrk, and
samples the server with py-spy from outside the process (the server runs unmodified; only
the thread holding the GIL is sampled, so the figures are where Python spends CPU, not where
it waits). Writes the raw stacks to ``bench/out/profile-<scenario>.txt`` (flame-graph input)
and prints the functions with the most samples, by own time and including callees.

Environment: OKANE_BENCH_SECONDS (per scenario, default 10).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.harness import ROOT, Server, run_wrk
from bench.run import CLIENTS, OUT, SECONDS, Bench, log, seeded_bench

TOP = 15


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is missing: run `make install` (it is a dev dependency)")
    return found


def summarise(raw: Path, top: int = TOP) -> str:
    """Top functions and packages by own time, from a py-spy ``--format raw`` file
    (``frame;frame;... count`` per line).

    Own time, not time including callees: SQLAlchemy's asyncio layer runs each statement in a
    greenlet, whose stacks py-spy reports without the request frames above them, so inclusive
    time of request-level frames would be undercounted.
    """
    functions: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        leaf = stack.split(";")[-1] if stack else "(no Python frame)"
        name, _, where = leaf.partition(" (")
        path = where.rstrip(")").rsplit(":", 1)[0]
        parts = Path(path).parts
        functions[f"{name} ({'/'.join(parts[-2:])})" if path else name] += count
        packages[_package(parts)] += count
    lines = [f"{total} samples"]
    for title, counter in (("package", packages), ("function", functions)):
        lines.append(f"-- own time by {title}, top {top}")
        lines += [f"{100 * n / max(total, 1):5.1f}%  {key}" for key, n in counter.most_common(top)]
    return "\n".join(lines)


def _package(parts: tuple[str, ...]) -> str:
    """``uvicorn/protocols/http/httptools_impl.py`` -> ``uvicorn``; stdlib modules -> their
    file name (``asyncio/tasks.py`` -> ``asyncio``)."""
    if not parts:
        return "(native)"
    first = parts[0]
    return first if first.startswith("<") else first.removesuffix(".py")


def profile(bench: Bench, server: Server, name: str, script: str, env: dict[str, str]) -> None:
    raw = OUT / f"profile-{name}.txt"
    run_wrk(server.url, script, 3, CLIENTS, env, bench.watch(server))
    recorder = subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(int(SECONDS)),
            "--rate",
            "100",
            "--gil",
            "--subprocesses",  # every uvicorn worker
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    result = run_wrk(server.url, script, SECONDS, CLIENTS, env, bench.watch(server))
    _, errors = recorder.communicate(timeout=SECONDS + 60)
    if recorder.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors[-2000:]}")
    log(f"{name}: {result.throughput:.0f}/s while sampled; raw stacks in {raw.relative_to(ROOT)}")
    print(summarise(raw), flush=True)


def main() -> None:
    with seeded_bench() as (bench, users_file):
        api = bench.user_api("user-api", "okane")
        profile(bench, api, "transfers", "transfer.lua", {"OKANE_BENCH_USERS": str(users_file)})
        bench.warm("okane", bench.redis_url, "--targets", "balances")
        profile(
            bench,
            api,
            "cached-wallet-read",
            "get.lua",
            {"OKANE_BENCH_USERS": str(users_file), "OKANE_BENCH_PATH": "/v1/wallet"},
        )


if __name__ == "__main__":
    main()
