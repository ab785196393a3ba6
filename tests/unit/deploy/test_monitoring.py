"""deploy/prometheus and deploy/grafana, checked offline: promtool checks the
configuration and the rules and runs the rules' own unit tests; the dashboards
and the provisioning are read as Grafana reads them; every `homeward_` series
they name is one the code declares (services/homeward/metrics.py).

That the queries return data from the running services is
tests/integration/test_prometheus.py.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client import REGISTRY

import homeward.metrics  # noqa: F401  (declares the catalogue in the default registry)
from tests.fixtures.prometheus import (
    CONFIG,
    GRAFANA_PROVISIONING,
    RULE_TESTS,
    alert_rules,
    dashboard_panels,
    dashboards,
    ensure_installed,
    grafana_expr,
    panels,
    promtool,
    rule_files,
)

SERIES = re.compile(r"\bhomeward_[a-z0-9_]+")
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "info": ("_info",),
}


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    ensure_installed()


def catalogue() -> set[str]:
    """Every series name the default registry can expose."""
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def test_promtool_checks_the_configuration_and_its_rule_files() -> None:
    done = promtool("check", "config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    files = rule_files()
    assert files, "the configuration names no rule file"
    assert f"SUCCESS: {len(files)} rule files found" in done.stdout + done.stderr


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", *map(str, rule_files()))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_unit_tests_pass() -> None:
    tests = sorted(RULE_TESTS.glob("*.yml"))
    assert tests
    done = promtool("test", "rules", *map(str, tests))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired = {
        case["alertname"]
        for path in RULE_TESTS.glob("*.yml")
        for t in yaml.safe_load(path.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {q.where.rpartition(" / ")[2] for q in alert_rules()}
    assert alerts - fired == set()


def test_the_issue_asks_for_these_alerts() -> None:
    exprs = " ".join(q.expr for q in alert_rules())
    for needed in (
        "up{",  # no service up
        "homeward_consumer_lag",
        "homeward_dead_letters_total",
        "homeward_overdue_total",
        "homeward_fanout_latency_seconds_bucket",
    ):
        assert needed in exprs, needed


def queries() -> Iterator[tuple[str, str]]:
    for q in dashboard_panels():
        yield q.where, q.expr
    for q in alert_rules():
        yield q.where, q.expr


def test_every_series_named_is_in_the_catalogue() -> None:
    known = catalogue()
    unknown = {
        (where, name)
        for where, expr in queries()
        for name in SERIES.findall(expr)
        if name not in known
    }
    assert not unknown, sorted(unknown)


def test_dashboards_cover_the_catalogue() -> None:
    named = {name for q in dashboard_panels() for name in SERIES.findall(q.expr)}
    families = {n.removesuffix("_bucket").removesuffix("_count") for n in named}
    # The SDKs run inside agencies' and hospitals' own processes, which Prometheus
    # does not scrape; everything else has a panel.
    missing = {
        family.name
        for family in REGISTRY.collect()
        if family.name.startswith("homeward_")
        and not family.name.startswith("homeward_sdk_")
        and not any(n.startswith(family.name) for n in families)
    }
    assert not missing, sorted(missing)


def test_the_dashboards_are_well_formed() -> None:
    boards = dashboards()
    assert len(boards) >= 4
    assert len({d["uid"] for d in boards.values()}) == len(boards)
    datasource = yaml.safe_load(
        (GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    for name, board in boards.items():
        ids = Counter(p["id"] for p in panels(board))
        assert [i for i, n in ids.items() if n > 1] == [], name
        for p in panels(board):
            if p["type"] == "row":
                continue
            where = f"{name}: {p['title']}"
            assert p["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}, where
            assert p["targets"], where
            assert {"h", "w", "x", "y"} <= set(p["gridPos"]), where
            assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, where
            refs = [t["refId"] for t in p["targets"]]
            assert len(set(refs)) == len(refs), where
            for t in p["targets"]:
                assert t["datasource"] == p["datasource"], where
                grafana_expr(t["expr"])  # no variable the test could not fill in


def test_the_dashboards_provider_reads_where_the_dashboards_are_mounted() -> None:
    doc = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "homeward.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/homeward"


def test_every_rule_has_a_severity_and_a_summary() -> None:
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
                assert rule["annotations"]["summary"], rule["alert"]
