"""What the benchmarks need: servers to start, load generators to run, processes to watch."""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from okane_core.localstack import free_port, postgres_bin

ROOT = Path(__file__).resolve().parents[1]


def ensure_wrk() -> str:
    """wrk from Debian's package (installed here when missing)."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], check=True)
    found = shutil.which("wrk")
    assert found, "wrk could not be installed"
    return found


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_uvicorn(
    name: str,
    target: str,
    env: dict[str, str],
    logs: Path,
    *,
    workers: int = 1,
    metrics: Path | None = None,
) -> Server:
    """A uvicorn of ``workers`` processes; with several, each writes its metrics files under
    ``metrics`` (emptied first) and /metrics adds them up."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    handle = (logs / f"{name}.log").open("wb")
    if metrics is not None:
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir(parents=True)
        env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
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
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited; see {logs / (name + '.log')}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code in {200, 404}:
                return Server(name, url, process)
        except httpx.TransportError:
            time.sleep(0.1)
    Server(name, url, process).stop()
    raise TimeoutError(f"{name} did not start; see {logs / (name + '.log')}")


@dataclass
class ProcessUsage:
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the largest single process of the group, at its peak
    pss_mb: float = 0.0  # the whole group, shared pages split fairly, at the end of the run
    processes: int = 0


@dataclass
class Watch:
    """CPU seconds and memory of named process groups while a load runs.

    Memory is reported per process (peak RSS of the largest one) and for the group as PSS:
    summing RSS over PostgreSQL's backends would count shared buffers once per backend.
    The load generator is a child of this process that has exited by the end of the run; its
    CPU comes from this process's accounting of reaped children.
    """

    groups: dict[str, list[psutil.Process]]
    usage: dict[str, ProcessUsage] = field(default_factory=dict)

    @contextmanager
    def running(self, load: subprocess.Popen[str] | None = None) -> Iterator[None]:
        if load is not None:
            self.groups["load generator"] = [psutil.Process(load.pid)]
        start = {name: self._cpu(procs) for name, procs in self.groups.items()}
        children_before = _reaped_children_cpu()
        peaks = dict.fromkeys(self.groups, 0.0)
        counts = dict.fromkeys(self.groups, 0)
        pss = dict.fromkeys(self.groups, 0.0)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.2):
                for name, procs in self.groups.items():
                    live = self._members(procs)
                    peaks[name] = max(peaks[name], self._largest_rss(live))
                    counts[name] = max(counts[name], len(live))
                    if name == "load generator":
                        pss[name] = self._pss(live) or pss[name]

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            for name, procs in self.groups.items():
                live = self._members(procs)
                if name == "load generator" and load is not None:
                    cpu = _reaped_children_cpu() - children_before
                else:
                    cpu = self._cpu(procs) - start[name]
                    pss[name] = self._pss(live)
                self.usage[name] = ProcessUsage(
                    cpu_seconds=cpu,
                    peak_rss_mb=max(peaks[name], self._largest_rss(live)) / 2**20,
                    pss_mb=pss[name] / 2**20,
                    processes=max(counts[name], len(live)),
                )

    def report(self) -> dict[str, Any]:
        """The ``cpu`` and ``memory_mb`` fields of a LoadResult."""
        return {
            "cpu": {k: round(v.cpu_seconds, 2) for k, v in self.usage.items()},
            "memory_mb": {
                k: {
                    "peak_rss_largest_process": round(v.peak_rss_mb, 1),
                    "pss_total": round(v.pss_mb, 1),
                    "processes": v.processes,
                }
                for k, v in self.usage.items()
            },
        }

    @staticmethod
    def _members(procs: list[psutil.Process]) -> list[psutil.Process]:
        """The group's root and its current descendants (PostgreSQL forks a backend per
        connection, uvicorn may fork workers), alive ones only."""
        if not procs or not procs[0].is_running():
            return []
        try:
            return [procs[0], *procs[0].children(recursive=True)]
        except psutil.Error:
            return [procs[0]]

    def _cpu(self, procs: list[psutil.Process]) -> float:
        """CPU seconds of the group's root process, its finished children (reaped, so counted
        in the root's children times) and its live children, whoever started them when."""
        members = self._members(procs)
        if not members:
            return 0.0
        try:
            times = members[0].cpu_times()
        except psutil.Error:
            return 0.0
        total = times.user + times.system + times.children_user + times.children_system
        for child in members[1:]:
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except psutil.Error:
                continue
        return total

    @staticmethod
    def _largest_rss(procs: list[psutil.Process]) -> float:
        largest = 0.0
        for p in procs:
            try:
                largest = max(largest, p.memory_info().rss)
            except psutil.Error:
                continue
        return largest

    @staticmethod
    def _pss(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            try:
                total += p.memory_full_info().pss
            except (psutil.Error, AttributeError):
                continue
        return total


def _reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def postgres_processes(port: int) -> list[psutil.Process]:
    for conn in psutil.net_connections(kind="tcp"):
        if (
            conn.laddr
            and conn.laddr.port == port
            and conn.status == psutil.CONN_LISTEN
            and conn.pid
        ):
            return process_tree(conn.pid)
    raise LookupError(f"no process listens on {port}")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)
    memory_mb: dict[str, dict[str, float]] = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    url: str, script: str, seconds: float, connections: int, env: dict[str, str], watch: Watch
) -> LoadResult:
    wrk = ensure_wrk()
    command = [
        wrk,
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "wrk" / script),
        url,
    ]
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with watch.running(process):
        out, _ = process.communicate(timeout=seconds + 60)
    if "requests in" not in out or "Latency Distribution" not in out:
        raise RuntimeError(f"wrk failed:\n{out[-3000:]}")
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    latencies = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if "50" not in latencies:
        raise RuntimeError(f"unexpected wrk output:\n{out[-3000:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return LoadResult(
        requests=requests,
        seconds=seconds,
        throughput=rps,
        p50_ms=_ms(latencies["50"]),
        p99_ms=_ms(latencies["99"]),
        errors=errors,
        **watch.report(),
    )


def run_pgbench(
    conninfo: dict[str, str],
    script: Path,
    seconds: float,
    clients: int,
    variables: dict[str, int],
    watch: Watch,
    logdir: Path,
) -> LoadResult:
    pgbench = str(postgres_bin() / "pgbench")  # the server's own version, from the wheel
    logdir.mkdir(parents=True, exist_ok=True)
    for old in logdir.glob("pgbench_log*"):
        old.unlink()
    command = [
        pgbench,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(2, clients)),
        "-T",
        str(int(seconds)),
        "-l",
        "--log-prefix",
        str(logdir / "pgbench_log"),
        "-f",
        str(script),
        "-h",
        conninfo["host"],
        "-p",
        conninfo["port"],
        "-U",
        conninfo["user"],
    ]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    command.append(conninfo["dbname"])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with watch.running(process):
        out, _ = process.communicate(timeout=seconds + 120)
    if process.returncode != 0:
        raise RuntimeError(out[-3000:])
    latencies: list[float] = []
    for log in logdir.glob("pgbench_log*"):
        for line in log.read_text().splitlines():
            parts = line.split()
            latencies.append(int(parts[2]) / 1000.0)
    latencies.sort()
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        throughput=tps,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        errors=int(failed.group(1)) if failed else 0,
        **watch.report(),
    )
