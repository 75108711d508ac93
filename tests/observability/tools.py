"""Prometheus 3 and promtool for the tests: built once from the Go module proxy by
tools/prometheus-toolchain.sh, cached per user; and a Prometheus server on loopback."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from okane_core.localstack import free_port

ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN = ROOT / "tools" / "prometheus-toolchain.sh"
ALERTS = ROOT / "charts" / "okane" / "alerts"


def toolchain() -> Path:
    """The directory with prometheus and promtool (built on first use, several minutes)."""
    done = subprocess.run(["bash", str(TOOLCHAIN)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


def rule_files() -> list[Path]:
    return sorted(ALERTS.glob("*.rules.yaml"))


def groups(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text())["groups"])


def alerts(path: Path) -> list[dict[str, Any]]:
    return [rule for group in groups(path) for rule in group["rules"] if "alert" in rule]


class Prometheus:
    """A real Prometheus server scraping ``targets`` ({job: [(address, labels)]}) every second
    and evaluating ``rules`` every second, in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        targets: dict[str, list[tuple[str, dict[str, str]]]],
        rules: list[Path],
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rules],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [
                        {"targets": [address], "labels": labels} for address, labels in entries
                    ],
                }
                for job, entries in targets.items()
            ],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        binary = toolchain() / "prometheus"
        self.process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, path: str, **params: str) -> Any:
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = answer.json()
        assert body.get("status") == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; every result is a vector or a scalar turned into one sample."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        assert data["resultType"] == "vector", (expr, data)
        return list(data["result"])
