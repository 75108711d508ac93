"""The chart's NetworkPolicies allow exactly the paths OKANE needs, for each values file.

Each OKANE pod (from the rendered workloads, plus a warm Job's pod as the operator renders it)
and a few neighbours (the ingress controller, Prometheus, cluster DNS, a stranger pod in the
release namespace and one in another namespace, the API server and an address on the internet)
are placed in a model cluster; every (source, destination port) pair is evaluated against the
rendered policies and the allowed set is compared with the intended one.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from okane_operator.render import WarmDefaults, render_cronjob
from tests.charts.helm import NAMESPACE, Manifests, containers, pod_labels, render
from tests.charts.netpol import Endpoint, World

_ips = (f"10.244.0.{n}" for n in itertools.count(10))
NAMESPACES = {
    name: {"kubernetes.io/metadata.name": name}
    for name in (
        NAMESPACE,
        "ingress-nginx",
        "monitoring",
        "kube-system",
        "elsewhere",
        "observability",
    )
}
TCP = "TCP"


def _pod(name: str, namespace: str, labels: dict[str, str], ports: dict[tuple[str, int], str]):
    return Endpoint(name, next(_ips), namespace, labels, ports)


def neighbours() -> list[Endpoint]:
    return [
        _pod(
            "ingress-controller",
            "ingress-nginx",
            {"app.kubernetes.io/name": "ingress-nginx"},
            {(TCP, 80): "http", (TCP, 443): "https"},
        ),
        _pod("prometheus", "monitoring", {"app": "prometheus"}, {(TCP, 9090): "web"}),
        _pod(
            "kube-dns",
            "kube-system",
            {"k8s-app": "kube-dns"},
            {("UDP", 53): "dns", (TCP, 53): "dns-tcp"},
        ),
        _pod("otel-collector", "observability", {"app": "otel"}, {(TCP, 4318): "otlp-http"}),
        _pod("stranger", NAMESPACE, {"app": "stranger"}, {(TCP, 8080): "http"}),
        _pod("elsewhere", "elsewhere", {"app": "elsewhere"}, {(TCP, 8080): "http"}),
        Endpoint("api-server", "172.20.0.10", ports={(TCP, 443): "", (TCP, 6443): ""}),
        Endpoint(
            "internet",
            "93.184.216.34",
            ports={(TCP, 443): "", (TCP, 5432): "", (TCP, 6379): "", (TCP, 6380): ""},
        ),
        Endpoint("external-postgresql", "10.20.0.5", ports={(TCP, 5432): ""}),
        Endpoint("external-redis", "10.20.1.7", ports={(TCP, 6380): ""}),
    ]


def okane_pods(manifests: Manifests) -> list[Endpoint]:
    pods = []
    for workload in manifests.workloads():
        labels = pod_labels(workload)
        ports = {
            (port.get("protocol", TCP), port["containerPort"]): port.get("name", "")
            for container in containers(workload)
            for port in container.get("ports") or []
        }
        pods.append(
            _pod(
                labels["app.kubernetes.io/component"],
                workload["metadata"]["namespace"],
                labels,
                ports,
            )
        )
    if manifests.of("Deployment") and any(p.name == "operator" for p in pods):
        cronjob = render_cronjob(
            {
                "metadata": {"name": "hourly", "namespace": NAMESPACE, "uid": "u", "generation": 1},
                "spec": {},
            },
            WarmDefaults(image="okane-user-api:test"),
        )
        template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
        pods.append(_pod("cache-warm", NAMESPACE, template["metadata"]["labels"], {}))
    return pods


def allowed_paths(manifests: Manifests) -> set[tuple[str, str, str]]:
    ours = okane_pods(manifests)
    world = World(NAMESPACES, manifests.of("NetworkPolicy"))
    names = {p.name for p in ours}
    return {
        path
        for path in world.matrix([*ours, *neighbours()])
        if path[0] in names or path[1] in names
    }


def dns(*sources: str) -> set[tuple[str, str, str]]:
    return {(s, "kube-dns", p) for s in sources for p in ("UDP/53", "TCP/53")}


def test_default_values_allow_only_what_okane_needs() -> None:
    expected = {
        ("ingress-controller", "user-api", "TCP/8000"),
        ("ingress-controller", "bank-webhook", "TCP/8001"),
        *{(s, "postgresql", "TCP/5432") for s in ("user-api", "bank-webhook", "migrations")},
        ("cache-warm", "postgresql", "TCP/5432"),
        *{(s, "redis", "TCP/6379") for s in ("user-api", "bank-webhook", "cache-warm")},
        *dns("user-api", "bank-webhook", "migrations", "cache-warm", "operator"),
        # The API server's address is not known in advance: by default its usual ports anywhere
        # (production narrows it, see below), which also reaches whatever listens on 443.
        ("operator", "api-server", "TCP/443"),
        ("operator", "api-server", "TCP/6443"),
        ("operator", "internet", "TCP/443"),
        ("operator", "ingress-controller", "TCP/443"),
    }
    assert allowed_paths(render("default")) == expected


def test_production_values_allow_only_what_okane_needs() -> None:
    expected = {
        ("ingress-controller", "user-api", "TCP/8000"),
        ("ingress-controller", "bank-webhook", "TCP/8001"),
        ("prometheus", "user-api", "TCP/8000"),
        ("prometheus", "bank-webhook", "TCP/8001"),
        ("prometheus", "operator", "TCP/9090"),
        *{
            (s, "external-postgresql", "TCP/5432")
            for s in ("user-api", "bank-webhook", "migrations", "cache-warm")
        },
        *{(s, "external-redis", "TCP/6380") for s in ("user-api", "bank-webhook", "cache-warm")},
        *dns("user-api", "bank-webhook", "migrations", "cache-warm", "operator"),
        ("operator", "api-server", "TCP/443"),
        # Google sign-in: public addresses on 443 only (not the API server, not pods).
        ("user-api", "internet", "TCP/443"),
    }
    assert allowed_paths(render("production")) == expected


def test_tracing_opens_the_collector_to_the_services_only() -> None:
    added = allowed_paths(render("default", "tracing.otlpEndpoint=http://otel:4318")) - (
        allowed_paths(render("default"))
    )
    assert added == {
        ("user-api", "otel-collector", "TCP/4318"),
        ("bank-webhook", "otel-collector", "TCP/4318"),
    }


def test_the_servers_accept_nobody_else_and_call_nobody() -> None:
    paths = allowed_paths(render("default"))
    for server in ("postgresql", "redis"):
        assert not [p for p in paths if p[0] == server], f"{server} may open connections"
        callers = {p[0] for p in paths if p[1] == server}
        assert callers <= {"user-api", "bank-webhook", "migrations", "cache-warm"}
        assert "stranger" not in callers and "elsewhere" not in callers


def test_warm_pods_in_other_watched_namespaces_reach_the_servers() -> None:
    manifests = render("default", "operator.watchNamespaces={okane,team-a}")
    world = World(
        {**NAMESPACES, "team-a": {"kubernetes.io/metadata.name": "team-a"}},
        manifests.of("NetworkPolicy"),
    )
    pods = {p.name: p for p in okane_pods(manifests)}
    warm_labels = dict(pods["cache-warm"].labels)
    remote_warm = Endpoint("remote-warm", "10.244.9.9", "team-a", warm_labels)
    remote_other = Endpoint("remote-other", "10.244.9.8", "team-a", {"app": "x"})
    assert world.allowed(remote_warm, pods["postgresql"], TCP, 5432)
    assert world.allowed(remote_warm, pods["redis"], TCP, 6379)
    assert not world.allowed(remote_other, pods["postgresql"], TCP, 5432)
    # The warm pods there are themselves confined by a policy in their namespace.
    assert not world.allowed(remote_warm, pods["user-api"], TCP, 8000)


def test_minimal_values_render_no_policies() -> None:
    assert not render("minimal").of("NetworkPolicy")


# -- the model itself, on cases whose answer the API documentation states --------------------


def _policy(spec: dict[str, Any], namespace: str = "a") -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": spec}


A = Endpoint("a", "10.0.0.1", "a", {"app": "a"}, {(TCP, 80): "http"})
B = Endpoint("b", "10.0.0.2", "a", {"app": "b"}, {(TCP, 80): "http"})
C = Endpoint("c", "10.0.0.3", "c", {"app": "a"}, {(TCP, 80): "http"})
SPACES = {"a": {"kubernetes.io/metadata.name": "a"}, "c": {"kubernetes.io/metadata.name": "c"}}


@pytest.mark.parametrize(
    ("spec", "source", "allowed"),
    [
        ({"podSelector": {}}, B, False),  # selected, Ingress implied, no rules: deny all
        ({"podSelector": {"matchLabels": {"app": "x"}}}, B, True),  # not selected: open
        ({"podSelector": {}, "ingress": [{}]}, C, True),  # an empty rule allows everything
        ({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}, B, True),
        # a podSelector alone means the policy's own namespace
        ({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}, C, False),
        (
            {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
            C,
            True,
        ),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]}, C, True),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 81}]}]}, C, False),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "UDP"}]}]}, C, False),
        (
            {
                "podSelector": {},
                "ingress": [
                    {"from": [{"ipBlock": {"cidr": "10.0.0.0/30", "except": ["10.0.0.2/32"]}}]}
                ],
            },
            B,
            False,
        ),
        # Egress only: ingress stays open
        ({"podSelector": {}, "policyTypes": ["Egress"]}, C, True),
    ],
)
def test_the_model_follows_the_api_semantics(
    spec: dict[str, Any], source: Endpoint, allowed: bool
) -> None:
    assert World(SPACES, [_policy(spec)]).allowed(source, A, TCP, 80) is allowed


def test_both_ends_must_agree() -> None:
    deny_egress = _policy(
        {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]}, namespace="c"
    )
    world = World(SPACES, [deny_egress])
    assert not world.allowed(C, A, TCP, 80)
    assert world.allowed(A, C, TCP, 80)
