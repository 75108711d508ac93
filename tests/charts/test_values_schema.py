"""values.schema.json turns typical mistakes into an error that names the value and the problem."""

from __future__ import annotations

import pytest

from tests.charts.helm import render, render_error


@pytest.mark.parametrize(
    ("values", "sets", "message"),
    [
        # Wrong types.
        ("default", ["userApi.replicas=two"], "at '/userApi/replicas': got string, want integer"),
        ("default", ["bankWebhook.port=80000"], "at '/bankWebhook/port'"),
        ("default", ["ingress.enabled=yes"], "at '/ingress/enabled': got string, want boolean"),
        ("default", ["operator.watchNamespaces=team-a"], "at '/operator/watchNamespaces'"),
        # A misspelt key would otherwise be ignored silently.
        ("default", ["userapi.replicas=2"], "additional properties 'userapi' not allowed"),
        ("default", ["mode=prod"], "at '/mode'"),
        # Settings that are not OKANE's, or a config value that is not a scalar.
        ("default", ["config.CACHE_TTL=5"], "'CACHE_TTL' does not match pattern '^OKANE_"),
        # The cache needs tombstones to outlive values.
        ("default", ["redis.maxmemoryPolicy=allkeys-lru"], "at '/redis/maxmemoryPolicy'"),
        ("default", ["cacheWarmJob.targets={balances,everything}"], "at '/cacheWarmJob/targets/1'"),
        # Production mode: every secret from an existing Secret, no in-repo servers.
        ("production", ["secrets.jwt.existingSecret="], "at '/secrets/jwt/existingSecret'"),
        (
            "production",
            ["secrets.bankWebhook.existingSecret="],
            "at '/secrets/bankWebhook/existingSecret'",
        ),
        (
            "production",
            ["externalDatabase.existingSecret="],
            "at '/externalDatabase/existingSecret'",
        ),
        (
            "production",
            ["postgresql.enabled=true"],
            "at '/postgresql/enabled': value must be false",
        ),
        ("default", ["mode=production"], "at '/secrets/jwt/existingSecret'"),
        # Without the in-repo server, its URL must come from somewhere.
        ("default", ["redis.enabled=false"], "at '/externalRedis/existingSecret'"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    values: str, sets: list[str], message: str
) -> None:
    error = render_error(values, *sets)
    assert "values don't meet the specifications of the schema" in error
    assert message in error, error


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["ingress.certManager.enabled=true"],
            "ingress.certManager.clusterIssuer: name the ClusterIssuer",
        ),
        (
            ["userApi.oidc.issuer=https://accounts.google.com", "userApi.oidc.clientId=x"],
            "userApi.oidc.clientSecret.existingSecret",
        ),
    ],
)
def test_incomplete_features_say_what_is_missing(sets: list[str], message: str) -> None:
    assert message in render_error("default", *sets)


def test_good_values_still_render() -> None:
    render("default", "userApi.replicas=3", "config.OKANE_CACHE_TTL_SECONDS=300")
    render("production", "userApi.oidc.issuer=")
