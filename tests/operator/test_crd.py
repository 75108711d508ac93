"""The CacheWarmJob CRD as shipped in the chart (pure; the API server tests apply it for real)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from okane_core.app.warming import parse_duration
from okane_operator.model import DEFAULT_SCHEDULE, GROUP, KIND, PLURAL, TARGETS, VERSION

CRD = (
    Path(__file__).resolve().parents[2]
    / "charts"
    / "okane"
    / "crds"
    / "cachewarmjobs.okane.dev.yaml"
)


@pytest.fixture(scope="module")
def version() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    assert crd["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert crd["spec"]["names"]["kind"] == KIND
    assert crd["spec"]["names"]["shortNames"] == ["cwj"]
    [served] = crd["spec"]["versions"]
    assert served["name"] == VERSION
    return dict(served)


def spec_schema(version: dict[str, Any]) -> dict[str, Any]:
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])


def walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


def test_every_field_is_documented_for_kubectl_explain(version: dict[str, Any]) -> None:
    root = version["schema"]["openAPIV3Schema"]
    undocumented = [
        path
        for path, node in walk(root, "")
        if not node.get("description")
        and path not in {".metadata"}
        and node.get("type") in {"object", "string", "integer", "number", "boolean", "array"}
        and not path.endswith("[]")
    ]
    assert undocumented == []


def test_defaults_match_what_the_operator_assumes(version: dict[str, Any]) -> None:
    spec = spec_schema(version)
    assert spec["schedule"]["default"] == DEFAULT_SCHEDULE
    assert spec["targets"]["default"] == list(TARGETS)
    assert spec["targets"]["items"]["enum"] == list(TARGETS)
    assert spec["suspend"]["default"] is False


def test_status_subresource_and_printer_columns(version: dict[str, Any]) -> None:
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Schedule", "Suspended", "Ready", "Last Schedule", "Last Success", "Age"]


@pytest.mark.parametrize(
    ("schedule", "valid"),
    [
        ("0 * * * *", True),
        ("*/15 * * * *", True),
        ("30 2 * * 1-5", True),
        ("0 0 1,15 * ?", True),
        ("0 6 * jan,JUL sun", True),
        ("5-50/5 0-23/2 * * *", True),
        ("@hourly", True),
        ("@daily", True),
        ("", False),
        ("every hour", False),
        ("61 * * * *", False),
        ("0 24 * * *", False),
        ("0 0 32 * *", False),
        ("0 0 * 13 *", False),
        ("0 0 * * 8", False),
        ("* * * *", False),
        ("0 * * * * *", False),
        ("TZ=UTC 0 * * * *", False),
        ("@fortnightly", False),
    ],
)
def test_schedule_pattern(version: dict[str, Any], schedule: str, valid: bool) -> None:
    pattern = re.compile(spec_schema(version)["schedule"]["pattern"])
    assert bool(pattern.search(schedule)) is valid


@pytest.mark.parametrize(
    ("duration", "valid"),
    [
        ("24h", True),
        ("7d", True),
        ("90m", True),
        ("30s", True),
        ("2w", True),
        ("1d12h", False),
        ("0h", False),
        ("24", False),
        ("1.5h", False),
        ("h", False),
        ("-1h", False),
        ("1y", False),
    ],
)
def test_active_within_pattern(version: dict[str, Any], duration: str, valid: bool) -> None:
    pattern = re.compile(spec_schema(version)["activeWithin"]["pattern"])
    assert bool(pattern.search(duration)) is valid
    # Whatever the CRD admits, `okane warm --active-within` accepts too.
    if valid:
        assert parse_duration(duration).total_seconds() > 0
