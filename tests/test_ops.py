"""The operations kit (ops/): alert rules that Prometheus's own promtool accepts and whose
unit tests pass, a Grafana dashboard whose queries are valid PromQL, and both asking only
for metrics the service exports.

promtool comes with Debian's `prometheus` package (`.ci/run` installs it); without it these
tests fail, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from analytics.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "ops" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts.test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "social-analytics.json"

# Series Prometheus adds itself for every scrape target.
SCRAPE_SERIES = {"up"}
# Grafana's interval variables, given a value so that promtool can parse the expressions.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


@cache
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is missing: install Debian's `prometheus` package "
            "(`apt-get install --no-install-recommends prometheus`; .ci/run does).",
            pytrace=False,
        )
    return found


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def exported_series() -> set[str]:
    """The series names the service exposes, from the metrics it registers."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    return {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in suffixes.get(family.type, [""])
    }


PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
PROMQL_OPERATORS = {"and", "or", "unless", "bool", "offset"}


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions or
    aggregations (followed by "("), label names, keywords, durations or strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    keywords = "|".join(PROMQL_KEYWORDS)
    text = re.sub(rf"\b({keywords})\s*\([^)]*\)", " ", text)  # label lists
    found = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        if text[match.end() :].lstrip().startswith("("):
            continue
        if match.group() not in PROMQL_KEYWORDS | PROMQL_OPERATORS:
            found.add(match.group())
    return found


def test_the_metric_name_parser_finds_selectors_only() -> None:
    expression = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{job="x", le!="1"}[5m])))'
        " / on (instance) group_left b_total offset 5m > bool 1 and c unless d or up"
    )
    assert metric_names(expression) == {"a_bucket", "b_total", "c", "d", "up"}
    assert metric_names("sum(rate(x_total[$__rate_interval])) by (reason)") == {"x_total"}


def rule_expressions() -> dict[str, str]:
    document = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule["expr"] for group in document["groups"] for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return {
        f"{panel['title']} {target['refId']}": target["expr"]
        for panel in panels
        for target in panel["targets"]
    }


# --- alert rules ------------------------------------------------------------------------


def test_promtool_accepts_the_rules_and_the_prometheus_configuration() -> None:
    checked = run_promtool("check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    configured = run_promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    assert "1 rule files found" in configured.stdout


def test_the_alerts_unit_tests_pass() -> None:
    tested = run_promtool("test", "rules", RULE_TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_fails_a_broken_rule_unit_test(tmp_path: Path) -> None:
    # Guards against a promtool that passes anything: the same tests, one expectation off.
    broken = tmp_path / "alerts.test.yml"
    broken.write_text(
        RULE_TESTS.read_text()
        .replace("rule_files:\n  - alerts.yml", f"rule_files:\n  - {RULES}")
        .replace("consumer:9108 falls behind: 3700", "consumer:9108 falls behind: 3600")
    )
    tested = run_promtool("test", "rules", broken)
    assert tested.returncode != 0
    assert "AnalyticsLagGrowing" in tested.stdout + tested.stderr


def test_the_alerts_cover_the_failures_operations_watch_for() -> None:
    assert set(rule_expressions()) == {
        "AnalyticsConsumerDown",
        "AnalyticsConsumerUnhealthy",
        "AnalyticsKafkaUnreachable",
        "AnalyticsLagGrowing",
        "AnalyticsDeadLetters",
        "AnalyticsRetrying",
    }
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert len(tested) >= 2
    assert tested <= set(rule_expressions())


@pytest.mark.parametrize(("alert", "expression"), sorted(rule_expressions().items()))
def test_alerts_ask_only_for_exported_metrics(alert: str, expression: str) -> None:
    used = metric_names(expression)
    assert used
    assert used <= exported_series() | SCRAPE_SERIES


# --- dashboard --------------------------------------------------------------------------


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query_{n}", "expr": expression}
        for n, expression in enumerate(dashboard_expressions().values())
    ]
    for rule in rules:
        for variable, value in GRAFANA_VARIABLES.items():
            rule["expr"] = rule["expr"].replace(variable, value)
    assert not [rule for rule in rules if "$" in rule["expr"]], "an unknown Grafana variable"
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = run_promtool("check", "rules", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout


def test_the_dashboard_asks_only_for_exported_metrics_and_shows_each_of_them() -> None:
    used = {name: metric_names(expression) for name, expression in dashboard_expressions().items()}
    unknown = {
        name: names - exported_series() - SCRAPE_SERIES
        for name, names in used.items()
        if names - exported_series() - SCRAPE_SERIES
    }
    assert unknown == {}
    assert all(used.values()), "a query without a metric"
    # A histogram counts as shown through any of its series.
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for names in used.values() for name in names}
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in exported_series()}
    assert families - shown == set()


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (ROOT / "ops" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    (prometheus,) = datasources
    panels = json.loads(DASHBOARD.read_text())["panels"]
    referenced = {json.dumps(panel["datasource"], sort_keys=True) for panel in panels}
    assert referenced == {json.dumps({"type": "prometheus", "uid": prometheus["uid"]})}
    assert len({panel["id"] for panel in panels}) == len(panels)
