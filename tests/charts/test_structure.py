"""What a reviewer would check by eye in the rendered chart, for every values file."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from okane_core.settings import Settings
from okane_core.webhooks import decode_secret
from okane_operator.render import WarmDefaults, render_cronjob
from okane_operator.settings import OperatorSettings
from tests.charts.helm import (
    CHART,
    NAMESPACE,
    RELEASE,
    VALUES,
    Manifests,
    container_port,
    containers,
    env_of,
    helm,
    labels_of,
    pod_labels,
    pod_spec,
    render,
    selects,
)
from tests.k8s.cluster import ROOT

ALL_VALUES = list(VALUES)
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
OKANE_COMPONENTS = ("user-api", "bank-webhook", "operator", "migrations")


@pytest.fixture(scope="module", params=ALL_VALUES)
def values(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def manifests(values: str) -> Manifests:
    return render(values)


def test_helm_lint_is_clean(values: str) -> None:
    args = [f"--values={path}" for path in VALUES[values]]
    done = helm("lint", str(CHART), "--strict", f"--namespace={NAMESPACE}", *args)
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


def test_every_object_and_pod_carries_the_recommended_labels(manifests: Manifests) -> None:
    for obj in manifests:
        missing = [key for key in RECOMMENDED_LABELS if key not in labels_of(obj)]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert labels_of(obj)["app.kubernetes.io/instance"] == RELEASE
    for workload in manifests.workloads():
        missing = [key for key in RECOMMENDED_LABELS if key not in pod_labels(workload)]
        assert not missing, f"pods of {workload['metadata']['name']} lack {missing}"


def test_every_service_selects_the_pods_of_one_workload_and_their_ports(
    manifests: Manifests,
) -> None:
    for service in manifests.of("Service"):
        selector = service["spec"]["selector"]
        matched = [
            w
            for w in manifests.of("Deployment") + manifests.of("StatefulSet")
            if selects({"matchLabels": selector}, pod_labels(w))
        ]
        assert len(matched) == 1, f"Service {service['metadata']['name']} selects {matched}"
        [workload] = matched
        # The workload's own selector must agree, or the Service would route to foreign pods.
        assert selects(workload["spec"]["selector"], pod_labels(workload))
        for port in service["spec"]["ports"]:
            targets = [container_port(c, port["targetPort"]) for c in containers(workload)]
            assert any(targets), f"{service['metadata']['name']}: no container port {port}"


def test_autoscalers_and_disruption_budgets_target_rendered_workloads(
    manifests: Manifests,
) -> None:
    for hpa in manifests.of("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        deployment = manifests.get(target["kind"], target["name"])
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert all(c["resources"]["requests"].get("cpu") for c in containers(deployment))
    for pdb in manifests.of("PodDisruptionBudget"):
        matched = [
            w for w in manifests.of("Deployment") if selects(pdb["spec"]["selector"], pod_labels(w))
        ]
        assert len(matched) == 1, pdb["metadata"]["name"]


def test_containers_are_locked_down_and_sized(manifests: Manifests) -> None:
    for workload in manifests.workloads():
        spec = pod_spec(workload)
        pod_security = spec.get("securityContext") or {}
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        assert spec.get("automountServiceAccountToken") is (
            labels_of(workload)["app.kubernetes.io/component"] == "operator"
        ), f"{workload['metadata']['name']}: only the operator uses the API"
        mounts_of_volumes = {v["name"] for v in spec.get("volumes") or []}
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")) is True
            user = security.get("runAsUser", pod_security.get("runAsUser"))
            assert isinstance(user, int) and user > 0, where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where
            paths = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
            assert "/tmp" in paths, f"{where}: a read-only root needs a writable /tmp"
            assert set(paths.values()) <= mounts_of_volumes | {
                t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])
            }


def _known_okane_settings() -> set[str]:
    """OKANE_* names OKANE reads: Settings fields and the few read directly from os.environ."""
    names = {f"OKANE_{name.upper()}" for name in Settings.model_fields}
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    for source in sources:
        names |= set(re.findall(r'"(OKANE_[A-Z0-9_]+)"', source.read_text()))
    return names


def test_every_okane_setting_the_chart_sets_exists(manifests: Manifests) -> None:
    known = _known_okane_settings()
    for workload in manifests.workloads():
        for container in containers(workload):
            env = env_of(container, manifests)
            if labels_of(workload)["app.kubernetes.io/component"] == "operator":
                continue
            unknown = {k for k in env if k.startswith("OKANE_")} - known
            assert not unknown, f"{workload['metadata']['name']}: unknown settings {unknown}"
    for key in manifests.get("ConfigMap", f"{RELEASE}-config")["data"] or {}:
        assert key in known, f"config: {key} is not an OKANE setting"


def test_the_services_get_what_their_app_factories_require(manifests: Manifests) -> None:
    needs = {
        "user-api": {"OKANE_DATABASE_URL", "OKANE_REDIS_URL", "OKANE_JWT_SECRET"},
        "bank-webhook": {"OKANE_DATABASE_URL", "OKANE_REDIS_URL", "OKANE_BANK_WEBHOOK_SECRET"},
    }
    for component, required in needs.items():
        [container] = containers(manifests.component("Deployment", component))
        env = env_of(container, manifests)
        assert required <= set(env), component
        # Load them the way the app factory does: a mistyped value fails here.
        Settings.model_validate(
            {k.removeprefix("OKANE_").lower(): v for k, v in env.items() if "<" not in v}
        )


def test_generated_secrets_are_random_valid_and_only_in_dev_mode(values: str) -> None:
    first, second = render(values), render(values)
    if values == "production":
        assert not first.of("Secret"), "production mode must not generate secrets"
        return
    secrets_1 = first.get("Secret", f"{RELEASE}-app-secrets")["data"]
    secrets_2 = second.get("Secret", f"{RELEASE}-app-secrets")["data"]
    assert secrets_1["OKANE_JWT_SECRET"] != secrets_2["OKANE_JWT_SECRET"]
    jwt = base64.b64decode(secrets_1["OKANE_JWT_SECRET"])
    assert len(jwt) >= 32
    decode_secret(base64.b64decode(secrets_1["OKANE_BANK_WEBHOOK_SECRET"]).decode())
    connections = first.get("Secret", f"{RELEASE}-connections")["data"]
    url = base64.b64decode(connections["OKANE_DATABASE_URL"]).decode()
    password = base64.b64decode(connections["postgres-password"]).decode()
    assert url == f"postgresql+psycopg://okane:{password}@{RELEASE}-postgresql:5432/okane"
    # The same password reaches the PostgreSQL container.
    [postgres] = containers(first.component("StatefulSet", "postgresql"))
    assert env_of(postgres, first)["POSTGRES_PASSWORD"] == password
    redis_url = base64.b64decode(connections["OKANE_REDIS_URL"]).decode()
    [redis] = containers(first.component("StatefulSet", "redis"))
    assert redis_url == f"redis://:{env_of(redis, first)['REDIS_PASSWORD']}@{RELEASE}-redis:6379/0"


def test_values_hold_no_secrets() -> None:
    for path in [CHART / "values.yaml", *[p for files in VALUES.values() for p in files]]:
        text = yaml.safe_dump(yaml.safe_load(path.read_text()))  # values, not comments
        assert "whsec_" not in text
        assert not re.search(r"://[^/\s]*:[^@\s]+@", text), f"{path}: a password in a URL"


def test_redis_evicts_values_before_tombstones(manifests: Manifests) -> None:
    config = manifests.find("ConfigMap", f"{RELEASE}-redis")
    if config is None:
        assert manifests.find("StatefulSet", f"{RELEASE}-redis") is None
        return
    assert "maxmemory-policy volatile-ttl" in config["data"]["redis.conf"].splitlines()
    assert "volatile-ttl" in render_error_of("redis.maxmemoryPolicy=allkeys-lru")


def render_error_of(*sets: str) -> str:
    from tests.charts.helm import render_error  # noqa: PLC0415

    return render_error("default", *sets)


def dockerfile_env(path: Path, name: str) -> str:
    text = path.read_text().replace("\\\n", " ")
    found = re.findall(rf"\b{name}=(\S+)", text)
    assert found, f"{path} sets no {name}"
    return str(found[-1])


def test_the_migration_job_is_a_hook_that_runs_okane_db_upgrade(manifests: Manifests) -> None:
    [job] = manifests.of("Job")
    annotations = job["metadata"]["annotations"]
    in_repo = manifests.find("StatefulSet", f"{RELEASE}-postgresql") is not None
    expected = "post-install,pre-upgrade" if in_repo else "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook"] == expected
    [container] = containers(job)
    assert container["command"] == ["okane", "db", "upgrade"]
    env = env_of(container, manifests)
    assert env["OKANE_MIGRATIONS_DIR"] == dockerfile_env(
        ROOT / "services" / "user-api" / "Dockerfile", "OKANE_MIGRATIONS_DIR"
    )
    assert (
        "COPY migrations /app/migrations"
        in (ROOT / "services" / "user-api" / "Dockerfile").read_text()
    )
    assert container["image"] == _image(manifests, "user-api")
    assert {"OKANE_DATABASE_URL", "OKANE_REDIS_URL"} <= set(env)


def _image(manifests: Manifests, component: str) -> str:
    [container] = containers(manifests.component("Deployment", component))
    return str(container["image"])


def test_the_operator_gives_warm_jobs_what_okane_warm_needs(
    manifests: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = [d for d in manifests.of("Deployment") if "operator" in d["metadata"]["name"]]
    if not operator:
        return
    [container] = containers(operator[0])
    assert container["command"] == ["okane-operator"]
    for key, value in env_of(container, manifests).items():
        monkeypatch.setenv(key, value)
    config = OperatorSettings()
    assert config.namespaces == (NAMESPACE,)
    assert container_port(container, "liveness") == config.liveness_port
    assert container_port(container, "metrics") == config.metrics_port
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert container_port(container, container[probe]["httpGet"]["port"]) == (
            config.liveness_port
        )
    # The CronJob the operator would own, from these settings (as its startup handler does).
    cronjob = render_cronjob(
        {"metadata": {"name": "hourly", "namespace": NAMESPACE, "uid": "u"}, "spec": {}},
        WarmDefaults(
            image=config.warm_image,
            image_pull_policy=config.warm_image_pull_policy,
            service_account=config.warm_service_account,
            env_secret=config.warm_env_secret,
            env_config_map=config.warm_env_config_map,
        ),
    )
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == _image(manifests, "user-api")
    assert manifests.get("ServiceAccount", pod["serviceAccountName"])
    warm_env = env_of(pod["containers"][0], manifests)
    assert manifests.get("ConfigMap", config.warm_env_config_map or "")
    secret = manifests.find("Secret", config.warm_env_secret or "")
    if secret is not None:
        assert {"OKANE_DATABASE_URL", "OKANE_REDIS_URL"} <= set(warm_env)
    else:  # an existing Secret: the one the services read both URLs from
        [api] = containers(manifests.component("Deployment", "user-api"))
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in api["env"]
            if e["name"] in {"OKANE_DATABASE_URL", "OKANE_REDIS_URL"}
        }
        assert {r["name"] for r in refs.values()} == {config.warm_env_secret}
        assert all(name == ref["key"] for name, ref in refs.items())


def test_image_pull_secrets_reach_every_okane_pod_and_the_warm_jobs() -> None:
    manifests = render("default", "image.pullSecrets={ghcr}")
    for workload in manifests.workloads():
        if labels_of(workload)["app.kubernetes.io/component"] in ("postgresql", "redis"):
            continue
        assert pod_spec(workload)["imagePullSecrets"] == [{"name": "ghcr"}]
    warm = manifests.get("ServiceAccount", f"{RELEASE}-warm")
    assert warm["imagePullSecrets"] == [{"name": "ghcr"}]


def test_warm_env_needs_a_secret_with_both_urls() -> None:
    error = render_error_of(
        "postgresql.enabled=false",
        "externalDatabase.existingSecret=db",
        "externalDatabase.key=url",
    )
    assert "operator.warmEnvSecret" in error
    render("default", *_external("db"), "operator.warmEnvSecret=warm-env")


def _external(secret: str) -> tuple[str, ...]:
    return ("postgresql.enabled=false", f"externalDatabase.existingSecret={secret}")


def test_every_service_monitor_selects_a_service_with_its_port(manifests: Manifests) -> None:
    monitors = manifests.of("ServiceMonitor")
    if not monitors:
        return
    assert {labels_of(m)["app.kubernetes.io/component"] for m in monitors} == {
        "user-api",
        "bank-webhook",
        "operator",
    }
    for monitor in monitors:
        spec = monitor["spec"]
        assert spec["namespaceSelector"]["matchNames"] == [NAMESPACE]
        services = [s for s in manifests.of("Service") if selects(spec["selector"], labels_of(s))]
        assert len(services) == 1, monitor["metadata"]["name"]
        [service] = services
        for endpoint in spec["endpoints"]:
            assert endpoint["path"] == "/metrics"
            [port] = [p for p in service["spec"]["ports"] if p.get("name") == endpoint["port"]]
            assert port, f"{service['metadata']['name']} has no port {endpoint['port']}"


def _app_paths(component: str) -> list[str]:
    """The routes of a service's FastAPI app, from its OpenAPI document and docs pages."""
    settings = Settings(
        database_url="postgresql://unused@localhost/unused",
        redis_url="redis://localhost",
        jwt_secret="x" * 48,
        bank_webhook_secret="whsec_" + base64.b64encode(b"k" * 32).decode(),
    )
    if component == "user-api":
        from okane_user_api.app import create_app  # noqa: PLC0415
    else:
        from okane_bank_webhook.app import create_app  # noqa: PLC0415
    app = create_app(settings)
    return [*app.openapi()["paths"], "/docs", "/openapi.json", "/redoc"]


def test_ingress_routes_only_public_paths_to_existing_services(manifests: Manifests) -> None:
    for ingress in manifests.of("Ingress"):
        component = labels_of(ingress)["app.kubernetes.io/component"]
        routes = _app_paths(component)
        [rule] = ingress["spec"]["rules"]
        if ingress["spec"].get("tls"):
            assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            service = manifests.get("Service", backend["name"])
            assert backend["port"]["name"] in [p["name"] for p in service["spec"]["ports"]]
            assert labels_of(service)["app.kubernetes.io/component"] == component

            def covers(route: str, rule_path: str = path["path"], kind: str = path["pathType"]):
                if kind == "Exact":
                    return route == rule_path
                return route == rule_path or route.startswith(rule_path.rstrip("/") + "/")

            assert any(covers(r) for r in routes), f"{path['path']} reaches no route"
            for internal in ("/healthz", "/readyz", "/metrics"):
                assert not covers(internal), f"{internal} is exposed through {path['path']}"


def test_dashboards_ship_as_labelled_config_maps(manifests: Manifests, values: str) -> None:
    maps = [m for m in manifests.of("ConfigMap") if "grafana_dashboard" in labels_of(m)]
    files = sorted((CHART / "dashboards").glob("*.json"))
    if values != "production":
        assert not maps
        return
    assert len(maps) == len(files) > 0
    shipped = {key: value for m in maps for key, value in m["data"].items()}
    for path in files:
        assert json.loads(shipped[path.name]) == json.loads(path.read_text())
    assert all(labels_of(m)["grafana_dashboard"] == "1" for m in maps)


def test_the_example_cache_warm_job_is_what_the_readme_shows(values: str) -> None:
    manifests = render(values, "cacheWarmJob.enabled=true")
    [cwj] = manifests.of("CacheWarmJob")
    assert cwj["metadata"]["name"] == "hourly"
    assert cwj["spec"]["schedule"] == "0 * * * *"
    assert cwj["spec"]["users"] == 1000


def test_kind_counts_are_reported(values: str, manifests: Manifests) -> None:
    report = ROOT / ".okane" / "test-reports" / "chart-objects.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    existing: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    existing[values] = manifests.kind_counts()
    report.write_text(json.dumps(existing, indent=2, sort_keys=True))
    assert manifests.kind_counts()


def test_production_renders_no_in_repo_servers() -> None:
    manifests = render("production")
    assert not manifests.of("StatefulSet")
    assert not manifests.of("PersistentVolumeClaim")
    rendered = yaml.safe_dump_all(manifests.objects)
    assert "okane-connections" in rendered


def _forwarded_allow_ips(*sets: str) -> str:
    manifests = render("default", *sets)
    deployment = manifests.get("Deployment", f"{RELEASE}-user-api")
    [container] = [c for c in containers(deployment) if c["name"] == "user-api"]
    return env_of(container, manifests)["FORWARDED_ALLOW_IPS"]


def test_x_forwarded_for_is_trusted_only_from_the_ingress_controllers_range() -> None:
    assert _forwarded_allow_ips() == "10.244.0.0/16"  # kind's pod network
    # No ingress and no range: nobody's X-Forwarded-For is believed.
    assert _forwarded_allow_ips("ingress.enabled=false", "userApi.forwardedAllowIps=") == (
        "127.0.0.1"
    )
    error = render_error_of("userApi.forwardedAllowIps=")
    assert "userApi.forwardedAllowIps" in error and "ingress controller" in error
    error = render_error_of("userApi.forwardedAllowIps=*", "networkPolicy.enabled=false")
    assert "networkPolicy.enabled" in error
    assert _forwarded_allow_ips("userApi.forwardedAllowIps=*") == "*"  # with the policy on


def test_alert_rules_ship_with_the_service_monitors_and_the_ledger_check_runs_on_a_schedule() -> (
    None
):
    assert not render("default").of("PrometheusRule")
    manifests = render(
        "default",
        "metrics.serviceMonitor.enabled=true",
        "metrics.prometheusRule.runbookBaseUrl=https://runbooks.example/okane#",
    )
    (rule,) = manifests.of("PrometheusRule")
    shipped = yaml.safe_load((CHART / "alerts" / "okane.rules.yaml").read_text())["groups"]
    assert [g["name"] for g in rule["spec"]["groups"]] == [g["name"] for g in shipped]
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == sum(1 for g in shipped for r in g["rules"] if "alert" in r)
    assert all(
        a["annotations"]["runbook_url"] == "https://runbooks.example/okane#" + a["alert"].lower()
        for a in alerts
    )
    # Templates of the annotations reach Prometheus untouched by Helm.
    assert any("{{ $labels.namespace }}" in a["annotations"]["summary"] for a in alerts)
    with_kube = render(
        "default",
        "metrics.serviceMonitor.enabled=true",
        "metrics.prometheusRule.kubeStateMetrics=true",
    ).of("PrometheusRule")[0]
    assert "okane-kube-state-metrics" in [g["name"] for g in with_kube["spec"]["groups"]]
    for monitor in manifests.of("ServiceMonitor"):
        (endpoint,) = monitor["spec"]["endpoints"]
        assert {"targetLabel": "service"}.items() <= endpoint["relabelings"][0].items()
    cronjob = manifests.component("CronJob", "ledger-check")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["okane", "ledger", "check"]
    assert not render("default", "ledgerCheck.enabled=false").find(
        "CronJob", cronjob["metadata"]["name"]
    )
