"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

No nodes and no kubelet: objects are stored, validated, defaulted, authorized and controlled
(CronJobs create Jobs, Jobs create Pods, the garbage collector follows ownerReferences) exactly
as in a cluster, but no container ever runs. A test that needs a pod to finish sets the pod's
status itself, the way a kubelet would.

The binaries come from ``tools/k8s-toolchain.sh`` (built once from the Go module proxy, cached
per user). Run ``python -m tests.k8s.cluster`` (``make k8s-up``) for a cluster to poke at.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from okane_core.localstack import free_port

ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN = ROOT / "tools" / "k8s-toolchain.sh"
ISSUER = "https://kubernetes.default.svc.cluster.local"
# The controllers whose behaviour the operator relies on (and the ones that keep namespaces and
# service accounts working); the rest would only spend CPU on a cluster without nodes.
CONTROLLERS = (
    "cronjob-controller",
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
)


def toolchain() -> Path:
    """The directory with kube-apiserver, kube-controller-manager, etcd, kubectl and helm.

    Builds them on first use (several minutes; logged in the toolchain's build.log).
    """
    done = subprocess.run(["bash", str(TOOLCHAIN)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


class ProcessDied(RuntimeError):
    """A process the cluster needs has exited."""


def wait_until(
    condition: Callable[[], Any], *, timeout: float = 60, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except ProcessDied:
            raise
        except Exception as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise TimeoutError(f"gave up waiting for {what or condition}{detail}")


def kubeconfig(server: str, ca_path: Path, token: str, namespace: str = "default") -> str:
    """A kubeconfig with one cluster, one token user and one context."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "okane-test",
                    "cluster": {"server": server, "certificate-authority": str(ca_path)},
                }
            ],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "okane-test",
                    "context": {"cluster": "okane-test", "user": "user", "namespace": namespace},
                }
            ],
            "current-context": "okane-test",
        }
    )


class Process:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, args: Sequence[str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                list(args), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        """True while it runs; raises ProcessDied with its log's tail once it has exited."""
        if self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise ProcessDied(f"{self.name} exited with {self.popen.returncode}:\n{tail}")
        return True

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class LocalCluster:
    """etcd + kube-apiserver (+ kube-controller-manager) on free loopback ports under ``workdir``.

    Authentication: static tokens for the admin and the controller manager, and service-account
    tokens signed by a key made here (so the TokenRequest API works). Authorization: RBAC only.
    """

    def __init__(self, workdir: Path, bin_dir: Path, *, controller_manager: bool = True) -> None:
        self.workdir = workdir
        self.bin_dir = bin_dir
        self.with_controller_manager = controller_manager
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.ca_path = workdir / "pki" / "apiserver.crt"
        self.admin_token = secrets.token_urlsafe(32)
        self.admin_kubeconfig = workdir / "admin.kubeconfig"
        self.processes: list[Process] = []
        self.startup_seconds = 0.0

    @property
    def tls(self) -> ssl.SSLContext:
        """Trusts the API server's self-signed serving certificate."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "pki").mkdir(exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def _start(self) -> None:
        sa_key, sa_pub = self._service_account_keys()
        kcm_token = secrets.token_urlsafe(32)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(
            f'{self.admin_token},okane-admin,okane-admin,"system:masters"\n'
            f"{kcm_token},system:kube-controller-manager,kcm,system:masters\n"
        )
        tokens.chmod(0o600)
        etcd_port, peer_port = free_port(), free_port()
        etcd = self._spawn(
            "etcd",
            self.binary("etcd"),
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync",  # test data; durability buys nothing here
            "--log-level=warn",
        )
        wait_until(
            lambda: (
                etcd.alive()
                and httpx.get(f"http://127.0.0.1:{etcd_port}/health", timeout=2).is_success
            ),
            timeout=60,
            what="etcd",
        )
        apiserver = self._spawn(
            "kube-apiserver",
            self.binary("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.workdir / 'pki'}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={ISSUER}",
            f"--api-audiences={ISSUER}",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            "--v=1",
        )
        wait_until(
            lambda: apiserver.alive() and self._ready(),
            timeout=120,
            what="kube-apiserver /readyz",
        )
        self.admin_kubeconfig.write_text(kubeconfig(self.server, self.ca_path, self.admin_token))
        if self.with_controller_manager:
            kcm_config = self.workdir / "kube-controller-manager.kubeconfig"
            kcm_config.write_text(kubeconfig(self.server, self.ca_path, kcm_token))
            kcm = self._spawn(
                "kube-controller-manager",
                self.binary("kube-controller-manager"),
                f"--kubeconfig={kcm_config}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--v=1",
            )
            # Ready once the service-account controller has given `default` its account.
            wait_until(
                lambda: (
                    kcm.alive() and self.get("/api/v1/namespaces/default/serviceaccounts/default")
                ),
                timeout=120,
                what="kube-controller-manager",
            )

    def _spawn(self, name: str, *args: str) -> Process:
        process = Process(name, args, self.workdir)
        self.processes.append(process)
        return process

    def _ready(self) -> bool:
        try:
            response = httpx.get(
                f"{self.server}/readyz",
                verify=self.tls,
                headers={"Authorization": f"Bearer {self.admin_token}"},
                timeout=5,
            )
        except (httpx.HTTPError, OSError):
            return False
        return response.status_code == 200

    def _service_account_keys(self) -> tuple[Path, Path]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = self.workdir / "pki" / "sa.key"
        public = self.workdir / "pki" / "sa.pub"
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private.chmod(0o600)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return private, public

    # -- talking to it ---------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(
            base_url=self.server,
            verify=self.tls,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        ) as client:
            return client.request(method, path, **kwargs)

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.request("GET", path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def kubectl(
        self,
        *args: str,
        kubeconfig_path: Path | None = None,
        stdin: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the toolchain's kubectl as admin (or with another kubeconfig)."""
        done = subprocess.run(
            [
                self.binary("kubectl"),
                f"--kubeconfig={kubeconfig_path or self.admin_kubeconfig}",
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}"
            )
        return done

    def apply(self, manifests: str | Sequence[Mapping[str, Any]], **kwargs: Any) -> str:
        text = manifests if isinstance(manifests, str) else yaml.safe_dump_all(list(manifests))
        return self.kubectl("apply", "-f", "-", stdin=text, **kwargs).stdout

    def helm_template(self, chart: Path, *args: str) -> list[dict[str, Any]]:
        """The chart's rendered templates (not its crds/), parsed."""
        done = subprocess.run(
            [self.binary("helm"), "template", *args, str(chart)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HELM_CACHE_HOME": str(self.workdir / "helm")},
        )
        return [doc for doc in yaml.safe_load_all(done.stdout) if doc]

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """A kubeconfig that authenticates as a service account, via the TokenRequest API."""
        response = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            json={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"audiences": [ISSUER], "expirationSeconds": 3600},
            },
        )
        response.raise_for_status()
        path.write_text(
            kubeconfig(self.server, self.ca_path, response.json()["status"]["token"], namespace)
        )
        return path


@contextmanager
def running_cluster(workdir: Path, *, controller_manager: bool = True) -> Iterator[LocalCluster]:
    with LocalCluster(workdir, toolchain(), controller_manager=controller_manager) as cluster:
        yield cluster


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Start a cluster in the foreground for people; Ctrl-C stops it."""
    workdir = ROOT / ".okane" / "k8s"
    shutil.rmtree(workdir, ignore_errors=True)
    signal.signal(signal.SIGTERM, _stop)
    with running_cluster(workdir) as cluster:
        print(f"kube-apiserver {cluster.server} ready in {cluster.startup_seconds:.1f} s")
        print(f"export KUBECONFIG={cluster.admin_kubeconfig}")
        print(f"export PATH={cluster.bin_dir}:$PATH  # kubectl, helm")
        print(f"logs in {workdir}; Ctrl-C stops everything", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)


if __name__ == "__main__":
    main()
