"""skaffold.yaml, the Tiltfile, the kind config and the CI workflows agree with the chart and the
Dockerfiles (neither skaffold, Tilt, kind nor GitHub runs here; actionlint does)."""

from __future__ import annotations

import ast
import glob
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.dockerfiles import DOCKERFILES, parse
from tests.charts.helm import CHART, Manifests, helm, labels_of
from tests.k8s.cluster import ROOT, LocalCluster

DEV_VALUES = ROOT / "charts" / "dev-values.yaml"
KIND = ROOT / "charts" / "kind-config.yaml"
WORKFLOWS = ROOT / ".github" / "workflows"
IMAGE_VALUES = {
    "okane-user-api": ("userApi", "user-api"),
    "okane-bank-webhook": ("bankWebhook", "bank-webhook"),
    "okane-operator": ("operator", "operator"),
}
SITE_PACKAGES = "/opt/okane/lib/python3.11/site-packages"


def dev_render(namespace: str = "okane") -> Manifests:
    done = helm(
        "template", "okane", str(CHART), f"--namespace={namespace}", f"--values={DEV_VALUES}"
    )
    return Manifests([d for d in yaml.safe_load_all(done.stdout) if d])


def skaffold() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    return config


def kind_context() -> str:
    return f"kind-{yaml.safe_load(KIND.read_text())['name']}"


def test_the_kind_cluster_maps_the_ingress_ports() -> None:
    config = yaml.safe_load(KIND.read_text())
    [node] = config["nodes"]
    ports = {(m["containerPort"], m["hostPort"]) for m in node["extraPortMappings"]}
    assert ports == {(80, 80), (443, 443)}
    assert node["labels"]["ingress-ready"] == "true"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["ingress"]["userApi"]["host"].endswith(".localhost")


def test_skaffold_builds_every_dockerfile_for_the_chart() -> None:
    config = skaffold()
    assert config["deploy"]["kubeContext"] == kind_context()
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    dockerfiles = {str(p.relative_to(ROOT)) for p in DOCKERFILES.values()}
    assert {a["docker"]["dockerfile"] for a in artifacts.values()} == dockerfiles
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    [release] = config["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"]) == CHART
    assert [ROOT / f for f in release["valuesFiles"]] == [DEV_VALUES]
    for image, artifact in artifacts.items():
        assert artifact["context"] == "."
        stages = {s.name for s in parse(ROOT / artifact["docker"]["dockerfile"])}
        assert artifact["docker"]["target"] in stages
        key, _ = IMAGE_VALUES[image]
        assert values[key]["image"]["repository"] == image
        variable = image.replace("-", "_")
        templates = release["setValueTemplates"]
        assert templates[f"{key}.image.repository"] == f"{{{{.IMAGE_REPO_{variable}}}}}"
        assert templates[f"{key}.image.tag"] == f"{{{{.IMAGE_TAG_{variable}}}}}"
        for rule in artifact.get("sync", {}).get("manual", []):
            assert rule["dest"] == SITE_PACKAGES
            matched = glob.glob(str(ROOT / rule["src"]), recursive=True)
            assert matched, f"{rule['src']} matches no file"
            package = rule["src"].removeprefix(rule["strip"]).split("/")[0]
            assert (ROOT / rule["strip"] / package / "__init__.py").exists()


def test_skaffold_port_forwards_reach_rendered_services() -> None:
    manifests = dev_render()
    for forward in skaffold()["portForward"]:
        service = manifests.get("Service", forward["resourceName"])
        assert forward["port"] in [p["port"] for p in service["spec"]["ports"]]
        assert forward["namespace"] == "okane"


def _tilt_calls() -> list[ast.Call]:
    tree = ast.parse((ROOT / "Tiltfile").read_text())  # Starlark is Python's syntax
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]


def _literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def test_the_tiltfile_builds_deploys_and_syncs_what_exists() -> None:
    calls = _tilt_calls()
    by_name: dict[str, list[ast.Call]] = {}
    for call in calls:
        assert isinstance(call.func, ast.Name)
        by_name.setdefault(call.func.id, []).append(call)
    [allow] = by_name["allow_k8s_contexts"]
    assert _literal(allow.args[0]) == kind_context()
    built = {}
    for call in by_name["docker_build"]:
        keywords = {k.arg: k.value for k in call.keywords}
        dockerfile = _literal(keywords["dockerfile"])
        assert (ROOT / dockerfile).exists()
        assert _literal(keywords["target"]) in {s.name for s in parse(ROOT / dockerfile)}
        built[_literal(call.args[0])] = dockerfile
    assert set(built) == set(IMAGE_VALUES)
    manifests = dev_render()
    workloads = {w["metadata"]["name"] for w in manifests.workloads()}
    for call in by_name["k8s_resource"]:
        assert _literal(call.args[0]) in workloads
    source = (ROOT / "Tiltfile").read_text()
    for path in re.findall(r'\("((?:libs|services|operator)/[^"]+)", "(\w+)"\)', source):
        assert (ROOT / path[0] / "__init__.py").exists(), path
        assert path[0].endswith(path[1])
    assert f'SITE = "{SITE_PACKAGES}"' in source


def test_the_dev_values_reload_the_packages_they_sync() -> None:
    manifests = dev_render()
    for component in ("user-api", "bank-webhook"):
        deployment = manifests.component("Deployment", component)
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--reload" in args
        dirs = [a.split("=", 1)[1] for a in args if a.startswith("--reload-dir=")]
        assert all(d.startswith(SITE_PACKAGES + "/okane_") for d in dirs)
        assert labels_of(deployment)["app.kubernetes.io/component"] == component


@pytest.mark.k8s
def test_the_dev_values_pass_server_side_validation(
    k8s_cluster: LocalCluster, namespace: str
) -> None:
    objects = dev_render(namespace).objects
    done = k8s_cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(objects),
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_actionlint_accepts_the_workflows(chart_tools_dir: Path) -> None:
    done = subprocess.run(
        [
            str(chart_tools_dir / "bin" / "actionlint"),
            "-color=false",
            *map(str, sorted(WORKFLOWS.glob("*.yml"))),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _steps(workflow: str) -> list[dict[str, Any]]:
    config = yaml.safe_load((WORKFLOWS / workflow).read_text())
    return [step for job in config["jobs"].values() for step in job["steps"]]


def test_the_workflows_run_the_projects_own_commands() -> None:
    makefile = (ROOT / "Makefile").read_text() + (ROOT / "make" / "k8s.mk").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    runs = [s["run"] for w in ("ci.yml", "charts.yml") for s in _steps(w) if "run" in s]
    for run in runs:
        for target in re.findall(r"\bmake ([a-z0-9 -]+)", run):
            assert set(target.split()) <= targets, run
    assert any(r.strip() == "make test" for r in runs)
    uv_version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert uv_version
    for workflow in ("ci.yml", "charts.yml"):
        for step in _steps(workflow):
            if step.get("uses", "").startswith("astral-sh/setup-uv"):
                assert step["with"]["version"] == uv_version.group(1)
    images = yaml.safe_load((WORKFLOWS / "images.yml").read_text())
    matrix = images["jobs"]["build"]["strategy"]["matrix"]["include"]
    assert {(m["image"], m["dockerfile"]) for m in matrix} == {
        (image, str(DOCKERFILES[component].relative_to(ROOT)))
        for image, (_, component) in IMAGE_VALUES.items()
    }
    [build] = [s for s in images["jobs"]["build"]["steps"] if "build-push" in s.get("uses", "")]
    assert build["with"]["target"] == parse(ROOT / matrix[0]["dockerfile"])[-1].name
