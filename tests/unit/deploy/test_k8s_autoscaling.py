"""deploy/k8s/base autoscaling: the Faust workers on their consumer group's lag, never
past the partitions they read; intake on CPU; the gateway on its live streams; the
audit sequencer fixed (two owners of a partition would fork the chain); and the
prometheus-adapter rules serve every metric an autoscaler asks for."""

from __future__ import annotations

from typing import Any

import pytest

from homeward import paths
from homeward.metrics import CONSUMER_LAG, GATEWAY_SSE_CLIENTS
from homeward.topology.model import Topology
from homeward_detector.settings import DetectorSettings
from homeward_fanout.settings import FanoutSettings
from homeward_referrals.settings import ReferralSettings
from tests.unit.deploy.support import by_kind, deployment, load_yaml, named

FAUST = {
    "fanout": FanoutSettings,
    "referrals": ReferralSettings,
    "detector": DetectorSettings,
}
ADAPTER_RULES = paths.REPO_ROOT / "deploy" / "prometheus" / "adapter-rules.yaml"


def hpa(role: str) -> dict[str, Any]:
    return named("HorizontalPodAutoscaler", f"homeward-{role}")


def fewest_partitions(role: str) -> int:
    topics = [t for t in Topology.load(prefix="").all() if role in t.readers]
    return min(t.partitions for t in topics)


def test_each_autoscaler_targets_its_own_deployment() -> None:
    for h in by_kind("HorizontalPodAutoscaler"):
        target = h["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert target["name"] == h["metadata"]["name"]
        named("Deployment", target["name"])  # exists


@pytest.mark.parametrize("role", sorted(FAUST))
def test_faust_workers_scale_on_their_groups_lag_within_the_partitions(role: str) -> None:
    spec = hpa(role)["spec"]
    assert spec["minReplicas"] >= 2  # the PodDisruptionBudget keeps one of two
    assert spec["maxReplicas"] <= fewest_partitions(role)
    assert deployment(role)["spec"]["replicas"] >= spec["minReplicas"]
    (metric,) = spec["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "homeward_consumer_group_lag"
    group = metric["external"]["metric"]["selector"]["matchLabels"]["group"]
    assert group == FAUST[role].model_fields["app_id"].default
    # A rebalance per membership change: scale down slowly.
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_intake_scales_on_cpu_and_the_gateway_on_live_streams() -> None:
    (cpu,) = hpa("intake")["spec"]["metrics"]
    assert cpu["type"] == "Resource" and cpu["resource"]["name"] == "cpu"
    (streams,) = hpa("gateway")["spec"]["metrics"]
    assert streams["type"] == "Pods"
    assert streams["pods"]["metric"]["name"] == GATEWAY_SSE_CLIENTS._name


def test_the_audit_sequencer_is_not_autoscaled() -> None:
    names = {h["metadata"]["name"] for h in by_kind("HorizontalPodAutoscaler")}
    assert "homeward-audit" not in names


def test_the_adapter_rules_serve_every_metric_an_autoscaler_asks_for() -> None:
    rules = load_yaml(ADAPTER_RULES)
    external = {r["name"]["as"]: r for r in rules["externalRules"]}
    pods = {r["name"]["as"]: r for r in rules["rules"]}
    lag = external["homeward_consumer_group_lag"]
    assert lag["seriesQuery"].startswith(CONSUMER_LAG._name + "{")
    assert "sum by (namespace, group)" in lag["metricsQuery"]
    assert GATEWAY_SSE_CLIENTS._name in pods
    for h in by_kind("HorizontalPodAutoscaler"):
        for m in h["spec"]["metrics"]:
            if m["type"] == "External":
                assert m["external"]["metric"]["name"] in external
            elif m["type"] == "Pods":
                assert m["pods"]["metric"]["name"] in pods
