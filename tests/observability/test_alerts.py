"""The chart's alert rules: valid (`promtool check rules`), and every alert proven by
`promtool test rules` with series that make it fire and series that keep it quiet."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.observability.tools import ALERTS, ROOT, alerts, rule_files, toolchain

HERE = Path(__file__).resolve().parent
CASES = {
    "okane.rules.yaml": HERE / "alerts.test.yaml",
    "kube-state-metrics.rules.yaml": HERE / "kube.test.yaml",
}
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(toolchain() / "promtool"), *args], capture_output=True, text=True, check=False
    )


def test_rules_are_valid_and_generated_from_the_tool() -> None:
    files = rule_files()
    assert {path.name for path in files} == set(CASES)
    checked = promtool("check", "rules", *map(str, files))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    from tools.alerts import kube_rules, render, rules  # noqa: PLC0415

    assert (ALERTS / "okane.rules.yaml").read_text() == render(rules()), "run tools/alerts.py"
    assert (ALERTS / "kube-state-metrics.rules.yaml").read_text() == render(kube_rules())


def test_every_alert_fires_on_its_case_and_stays_quiet_otherwise(tmp_path: Path) -> None:
    for rules_name, cases in CASES.items():
        # The annotations' templates are rendered by the real Prometheus test; promtool compares
        # annotations exactly, so here the expressions and labels are what is compared.
        content = yaml.safe_load((ALERTS / rules_name).read_text())
        for group in content["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        (tmp_path / rules_name).write_text(yaml.safe_dump(content))
        spec = yaml.safe_load(cases.read_text())
        spec["rule_files"] = [rules_name]
        (tmp_path / cases.name).write_text(yaml.safe_dump(spec))
        tested = promtool("test", "rules", str(tmp_path / cases.name))
        assert tested.returncode == 0, tested.stdout + tested.stderr
        _assert_covered(alerts(ALERTS / rules_name), spec["tests"])


def _assert_covered(rules: list[dict[str, Any]], tests: list[dict[str, Any]]) -> None:
    """Each alert has an evaluation where it fires and one where something stays quiet: an
    evaluation expecting no alert, or input series whose labels none of the alerts carry."""
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        series = [s["series"] for s in case["input_series"]]
        for check in case["alert_rule_test"]:
            name = check["alertname"]
            expected = check.get("exp_alerts") or []
            if not expected:
                quiet.add(name)
                continue
            fires.add(name)
            values = {
                f'{key}="{value}"'
                for alert in expected
                for key, value in alert["exp_labels"].items()
                if key != "severity"
            }
            keys = {key for alert in expected for key in alert["exp_labels"] if key != "severity"}
            for text in series:
                mentioned = {pair for pair in values if pair in text}
                if any(f'{key}="' in text for key in keys) and len(mentioned) < len(
                    [key for key in keys if f'{key}="' in text]
                ):
                    quiet.add(name)
    names = {rule["alert"] for rule in rules}
    assert names - fires == set(), f"alerts no case makes fire: {names - fires}"
    assert names - quiet == set(), f"alerts no case keeps quiet: {names - quiet}"


def test_every_alert_has_a_runbook_section_and_a_severity() -> None:
    text = RUNBOOKS.read_text()
    for path in rule_files():
        for rule in alerts(path):
            assert f"\n## {rule['alert']}\n" in text, f"docs/runbooks.md lacks ## {rule['alert']}"
            assert rule["labels"]["severity"] in {"page", "ticket"}
            assert rule["annotations"]["runbook_url"] == "docs/runbooks.md#" + rule["alert"].lower()
            assert rule["annotations"]["summary"]
