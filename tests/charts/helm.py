"""Render the chart with the toolchain's helm and look things up in what it rendered."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.k8s.cluster import ROOT, toolchain

CHART = ROOT / "charts" / "okane"
RELEASE = "okane"
NAMESPACE = "okane"
# The values files the chart is tested with: defaults (dev, kind), production-like, minimal.
VALUES: dict[str, list[Path]] = {
    "default": [],
    "production": [CHART / "ci" / "production-values.yaml"],
    "minimal": [CHART / "ci" / "minimal-values.yaml"],
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


@cache
def helm_binary() -> str:
    return str(toolchain() / "helm")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [helm_binary(), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HELM_CACHE_HOME": str(ROOT / ".okane" / "helm-cache")},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return done


def template_args(
    values: str,
    *sets: str,
    namespace: str = NAMESPACE,
    chart: Path = CHART,
    release: str = RELEASE,
) -> list[str]:
    args = ["template", release, str(chart), f"--namespace={namespace}"]
    args += [f"--values={path}" for path in VALUES[values]]
    args += [f"--set={item}" for item in sets]
    return args


def render(values: str = "default", *sets: str, **kwargs: Any) -> Manifests:
    """Every object the chart renders (templates and hooks, not crds/)."""
    done = helm(*template_args(values, *sets, **kwargs))
    return Manifests([doc for doc in yaml.safe_load_all(done.stdout) if doc])


def render_error(values: str, *sets: str) -> str:
    """The error of a render that must fail."""
    done = helm(*template_args(values, *sets), check=False)
    assert done.returncode != 0, f"rendered although it should not have: {sets}"
    return done.stderr


@dataclass
class Manifests:
    objects: list[dict[str, Any]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.objects)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = [
            o
            for o in self.of(kind)
            if o["metadata"]["name"] == name
            and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]
        assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [o for o in self.of(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in WORKLOAD_KINDS]

    def component(self, kind: str, component: str) -> dict[str, Any]:
        found = [
            o
            for o in self.of(kind)
            if o["metadata"]["labels"].get("app.kubernetes.io/component") == component
        ]
        assert len(found) == 1, f"{kind} of {component}: found {len(found)}"
        return found[0]

    def kind_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.objects:
            counts[o["kind"]] = counts.get(o["kind"], 0) + 1
        return dict(sorted(counts.items()))


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels / matchExpressions) applied to labels.
    An empty selector selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def container_port(container: Mapping[str, Any], port: int | str) -> int | None:
    """The number a probe or Service port refers to in a container (by number or name)."""
    for entry in container.get("ports") or []:
        if port in (entry["containerPort"], entry.get("name")):
            return int(entry["containerPort"])
    return None


def env_of(
    container: Mapping[str, Any], manifests: Manifests, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A container's environment as the kubelet would build it from the rendered objects.

    Secret and ConfigMap references that the chart does not render (existing Secrets) resolve to
    ``overrides`` or a placeholder naming the reference.
    """
    import base64  # noqa: PLC0415 - only this helper decodes Secrets

    def secret_value(name: str, key: str) -> str:
        found = manifests.find("Secret", name)
        if found and key in (found.get("data") or {}):
            return base64.b64decode(found["data"][key]).decode()
        return f"<{name}/{key}>"

    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            found = manifests.find("ConfigMap", source["configMapRef"]["name"])
            env.update((found or {}).get("data") or {})
        if "secretRef" in source:
            found = manifests.find("Secret", source["secretRef"]["name"])
            for key, value in ((found or {}).get("data") or {}).items():
                env[key] = base64.b64decode(value).decode()
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secret_value(ref["name"], ref["key"])
    env.update(overrides or {})
    return env


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = obj["metadata"].get("labels") or {}
    return labels


def names(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects)
