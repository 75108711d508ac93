"""Every PromQL expression in the shipped Grafana dashboards refers only to metric names that
the running components really export (scraped, not assumed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from okane_operator.metrics import Metrics
from tests.observability.tools import groups, rule_files
from tests.services.conftest import Stack

DASHBOARDS = Path(__file__).resolve().parents[2] / "charts" / "okane" / "dashboards"
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
    "gauge": ("",),
}


def exported(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def test_dashboards_query_only_exported_metrics(stack: Stack) -> None:
    names = exported(httpx.get(stack.api_url + "/metrics").text)
    names |= exported(httpx.get(stack.webhook_url + "/metrics").text)
    names |= exported(generate_latest(Metrics().registry).decode())
    # The SLO panels read the recording rules the chart ships beside the dashboards.
    names |= {
        rule["record"]
        for path in rule_files()
        for group in groups(path)
        for rule in group["rules"]
        if "record" in rule
    }
    boards = sorted(DASHBOARDS.glob("*.json"))
    assert len(boards) >= 5
    checked = 0
    for path in boards:
        board = json.loads(path.read_text())
        assert board["uid"] and board["panels"]
        for panel in board["panels"]:
            for target in panel["targets"]:
                used = set(re.findall(r"\bokane[_:][a-z0-9_:]+\b", target["expr"]))
                # Every selector is scoped to the dashboard's namespace variable.
                assert target["expr"].count("okane") == target["expr"].count(
                    'namespace=~"$namespace"'
                ), target["expr"]
                assert used, (path.name, target["expr"])
                missing = used - names
                assert not missing, f"{path.name} '{panel['title']}' queries unknown {missing}"
                checked += 1
    assert checked >= 25
