"""The Dockerfiles: their rules, hadolint, and their Python build steps carried out for real.

No container engine exists here. What the images would contain is checked by running each
Dockerfile's uv steps against the real lock (``dockerfiles.emulate``) and then running the
chart's container commands from that environment: the services answer their probes against a
real PostgreSQL and Redis, the migration Job migrates an empty database, and ``okane warm``
runs with the warm Jobs' environment. The base image (and its /bin/sh, tee, tail, cat) and the
container runtime are taken on trust.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from okane_core.db.migrate import alembic_config
from okane_core.localstack import Endpoints, free_port
from okane_operator.model import parse_spec
from okane_operator.render import warm_args
from tests.charts.dockerfiles import DOCKERFILES, Emulated, emulate, parse
from tests.charts.helm import RELEASE, Manifests, container_port, containers, env_of, render
from tests.conftest import _admin_conninfo
from tests.k8s.cluster import ROOT

PACKAGES = {
    "user-api": "okane-user-api",
    "bank-webhook": "okane-bank-webhook",
    "operator": "okane-operator",
}
DEV_TOOLS = ("pytest", "mypy", "ruff", "hadolint", "schemathesis", "import_linter", "uv")
BASE = re.compile(r"^python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?$")


@pytest.mark.parametrize("component", list(DOCKERFILES))
def test_stages_use_one_pinned_python_3_11_slim_base(component: str) -> None:
    images = {
        stage.image
        for path in DOCKERFILES.values()
        for stage in parse(path)
        if stage.image not in {s.name for s in parse(path)}  # FROM an earlier stage
    }
    assert len(images) == 1, f"every stage of every image on the same base: {images}"
    [image] = images
    assert BASE.match(image), f"{image} is not an exact python:3.11.x-slim-<debian> tag"
    assert len(parse(DOCKERFILES[component])) >= 2, "multi-stage"


@pytest.mark.parametrize("component", list(DOCKERFILES))
def test_the_final_stage_runs_as_a_numeric_user_without_build_tools(component: str) -> None:
    stages = parse(DOCKERFILES[component])
    final = stages[-1]
    [user] = [i.args for i in final.of("USER")]
    assert re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user), f"USER {user} is not a numeric non-root id"
    # What the final stage is made of: its base stage chain, never the build stage.
    chain, image = [final], final.image
    by_name = {s.name: s for s in stages if s.name}
    while image in by_name:
        chain.append(by_name[image])
        image = by_name[image].image
    assert all(s.name != "build" for s in chain)
    for stage in chain:
        for run in stage.of("RUN"):
            assert "uv" not in run.words() and "pip install" not in run.args, run.args
    copies = [c.args for s in chain for c in s.of("COPY") if "--from=" in c.args]
    assert copies == ["--from=build /opt/okane /opt/okane"], copies
    assert final.of("CMD"), "the image says what it runs"


def _uv_version_of_makefile() -> str:
    found = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found
    return found.group(1)


@pytest.mark.parametrize("component", list(DOCKERFILES))
def test_the_build_installs_the_locked_member_without_the_dev_group(component: str) -> None:
    [build] = [s for s in parse(DOCKERFILES[component]) if s.name == "build"]
    runs = [r.words() for r in build.of("RUN")]
    syncs = [r[r.index("uv") :] for r in runs if "uv" in r]
    assert syncs, "dependencies come from uv.lock through uv sync"
    for sync in syncs:
        assert {"sync", "--frozen", "--no-dev"} <= set(sync), sync
        assert sync[sync.index("--package") + 1] == PACKAGES[component]
    assert ["pip", "install", "--no-cache-dir", f"uv=={_uv_version_of_makefile()}"] in runs
    copies = [c.args for c in build.of("COPY")]
    assert "pyproject.toml uv.lock ./" in copies
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    for member in members["members"]:
        assert f"{member}/pyproject.toml {member}/" in copies, f"{member}'s metadata"


def _context_allows(path: str) -> bool:
    """Whether .dockerignore (an allow-list) sends ``path`` to the builder."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    top = path.split("/", maxsplit=1)[0]
    allowed = False
    for rule in rules:
        if rule == "*":
            allowed = False
        elif rule.startswith("!") and rule[1:].rstrip("/") in (top, path):
            allowed = True
    return allowed


@pytest.mark.parametrize("component", list(DOCKERFILES))
def test_every_copied_path_exists_in_the_build_context(component: str) -> None:
    for stage in parse(DOCKERFILES[component]):
        for copy in stage.of("COPY"):
            if "--from=" in copy.args:
                continue
            *sources, _ = copy.words()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                assert _context_allows(source.rstrip("/")), f".dockerignore drops {source}"


@pytest.mark.parametrize("component", list(DOCKERFILES))
def test_hadolint_is_clean(component: str) -> None:
    hadolint = ROOT / ".venv" / "bin" / "hadolint"
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILES[component])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_images_expose_the_ports_the_chart_uses() -> None:
    manifests = render("default")
    for component, path in DOCKERFILES.items():
        exposed = {int(p) for s in parse(path) for i in s.of("EXPOSE") for p in i.words()}
        [container] = containers(manifests.component("Deployment", component))
        assert {p["containerPort"] for p in container["ports"]} == exposed, component


# -- the build steps, carried out -------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Emulated]:
    return {
        component: emulate(path, tmp_path_factory.mktemp(component))
        for component, path in DOCKERFILES.items()
    }


def _run_env(image: Emulated, env: dict[str, str]) -> dict[str, str]:
    """The container's environment: the image's ENV, then the pod's; nothing from this test."""
    path = image.env.get("PATH", "").replace("/opt/okane/bin", str(image.venv / "bin"))
    path = path.replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    return {
        **{k: v for k, v in image.env.items() if not k.startswith("UV_")},
        "PATH": path,
        "HOME": str(image.root / "tmp"),
        **env,
    }


def test_the_environments_hold_the_commands_and_no_dev_tools(images: dict[str, Emulated]) -> None:
    manifests = render("default")
    for component, image in images.items():
        [container] = containers(manifests.component("Deployment", component))
        command = container["command"][0]
        assert (image.venv / "bin" / command).exists(), f"{component}: no {command}"
        assert (image.venv / "bin" / "okane").exists()
        site = next((image.venv / "lib").glob("python3.*/site-packages"))
        installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
        assert not installed & set(DEV_TOOLS), f"{component}: {installed & set(DEV_TOOLS)}"
        # Installed as wheels, not as links back into the build stage's /src.
        assert not list(site.glob("*.pth")) or all(
            "/src" not in p.read_text() for p in site.glob("*.pth")
        )


@pytest.fixture
def empty_database(endpoints: Endpoints) -> Iterator[str]:
    name = f"okane_empty_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _admin_conninfo(endpoints.database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(endpoints.database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _container_env(
    manifests: Manifests, container: Mapping[str, Any], database: str, redis: str
) -> dict[str, str]:
    env = env_of(container, manifests)
    for key in ("OKANE_DATABASE_URL", "OKANE_REDIS_URL"):  # in-cluster names do not resolve here
        if key in env:
            env[key] = database if key == "OKANE_DATABASE_URL" else redis
    return env


def test_the_migration_job_migrates_an_empty_database(
    images: dict[str, Emulated], empty_database: str, endpoints: Endpoints
) -> None:
    manifests = render("default")
    [job] = manifests.of("Job")
    [container] = containers(job)
    image = images["user-api"]
    env = _container_env(manifests, container, empty_database, endpoints.redis_url)
    env["OKANE_MIGRATIONS_DIR"] = str(image.path(env["OKANE_MIGRATIONS_DIR"]))
    done = subprocess.run(
        container["command"],
        env=_run_env(image, env),
        cwd=image.path("/app"),
        capture_output=True,
        text=True,
        check=False,
        executable=str(image.venv / "bin" / container["command"][0]),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    head = ScriptDirectory.from_config(alembic_config(empty_database)).get_current_head()
    with psycopg.connect(_plain(empty_database)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row == (head,)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _start(image: Emulated, container: dict[str, object], env: dict[str, str]):
    args = [str(a) for a in container["args"]]  # type: ignore[attr-defined]
    port = free_port()
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    # What the kubelet does: an empty directory at each volume mount; settings naming a mount
    # point name the image's copy of it here.
    mounts = {str(m["mountPath"]) for m in container.get("volumeMounts", [])}  # type: ignore[attr-defined]
    for mount in mounts:
        image.path(mount).mkdir(parents=True, exist_ok=True)
    env = {k: str(image.path(v)) if v in mounts else v for k, v in env.items()}
    log = image.path("/tmp") / f"{container['name']}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(image.venv / "bin" / str(container["command"][0])), *args],  # type: ignore[index]
            env=_run_env(image, env),
            cwd=image.path("/app"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, port, log


@pytest.mark.parametrize("component", ["user-api", "bank-webhook"])
def test_the_services_start_from_the_image_and_answer_their_probes(
    images: dict[str, Emulated], database_url: str, endpoints: Endpoints, component: str
) -> None:
    manifests = render("default")
    [container] = containers(manifests.component("Deployment", component))
    env = _container_env(manifests, container, database_url, endpoints.redis_url)
    process, port, log = _start(images[component], container, env)
    try:
        probes = [
            container[p]["httpGet"] for p in ("startupProbe", "livenessProbe", "readinessProbe")
        ]
        assert all(container_port(container, p["port"]) for p in probes)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # what the startup probe does
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(url + probes[0]["path"], timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        for probe in probes:
            assert httpx.get(url + probe["path"], timeout=5).status_code == 200, probe
        # What the ServiceMonitor scrapes, on the port it names.
        metrics = httpx.get(url + "/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "okane_http_requests_total" in metrics.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    # A graceful stop on SIGTERM (uvicorn re-raises the signal once it has shut down).
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()


def test_okane_warm_runs_with_the_warm_jobs_environment(
    images: dict[str, Emulated], database_url: str, endpoints: Endpoints
) -> None:
    manifests = render("default", "cacheWarmJob.enabled=true")
    [cwj] = manifests.of("CacheWarmJob")
    # The warm container's environment: the config map, then the secret (as the operator's
    # CronJob lists them in envFrom).
    container = {
        "envFrom": [
            {"configMapRef": {"name": f"{RELEASE}-config"}},
            {"secretRef": {"name": f"{RELEASE}-connections"}},
        ]
    }
    env = _container_env(manifests, container, database_url, endpoints.redis_url)
    image = images["user-api"]
    args = warm_args(parse_spec(cwj["spec"]))
    done = subprocess.run(
        args,
        env=_run_env(image, env),
        cwd=image.path("/app"),
        capture_output=True,
        text=True,
        check=False,
        executable=str(image.venv / "bin" / args[0]),
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary["targets"]) == set(cwj["spec"]["targets"])
