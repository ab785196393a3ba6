"""deploy/k8s NetworkPolicies: each workload reaches only Kafka (and DNS);
intake accepts its HTTP port; Prometheus scrapes the workers' metrics ports;
nothing else gets in or out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.deploy.support import (
    AGREED_PORTS,
    K8S,
    ROLES,
    by_kind,
    deployment,
    load_yaml,
    main_container,
    named,
    pod_labels,
    pod_specs,
    selects,
)

DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
KAFKA = {
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}],
    "ports": [{"protocol": "TCP", "port": 9092}, {"protocol": "TCP", "port": 9093}],
}
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def policies_for(labels: dict[str, str]) -> list[dict[str, Any]]:
    return [p for p in by_kind("NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]


def own_policy(workload: dict[str, Any]) -> dict[str, Any]:
    (policy,) = [p for p in policies_for(pod_labels(workload)) if p["spec"]["podSelector"]]
    return policy


def port_number(workload: dict[str, Any], port: str | int) -> int:
    for p in main_container(workload).get("ports", []):
        if port in (p.get("name"), p["containerPort"]):
            return int(p["containerPort"])
    raise AssertionError(f"{workload['metadata']['name']} has no port {port}")


def test_default_deny_covers_the_whole_namespace() -> None:
    policy = named("NetworkPolicy", "homeward-default-deny")
    assert policy["spec"]["podSelector"] == {}
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]


def test_every_workload_has_its_own_policy_for_both_directions() -> None:
    workloads = list(pod_specs())
    assert {w["metadata"]["name"] for w, _ in workloads} >= {f"homeward-{r}" for r in ROLES}
    for workload, _ in workloads:
        policy = own_policy(workload)
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}, policy["metadata"]


# Intake and the gateway also verify bearer tokens: the OIDC provider's keys over HTTPS.
OIDC = {"ports": [{"protocol": "TCP", "port": 443}]}
# The services callers reach over HTTP (every other workload only serves /metrics).
HTTP_ROLES = ["intake", "gateway"]


# The console (in the gateway) reads a case's timeline from intake's API with the
# user's own token: the one HTTP call between Homeward workloads, and only that port.
INTAKE_API = {
    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "homeward-intake"}}}],
    "ports": [{"protocol": "TCP", "port": 8080}],
}


def test_every_workload_reaches_only_dns_and_kafka() -> None:
    for workload, _ in pod_specs():
        component = pod_labels(workload).get("app.kubernetes.io/component")
        intake = component in HTTP_ROLES
        for policy in policies_for(pod_labels(workload)):
            egress = policy["spec"].get("egress", [])
            # The example overlay's patch counts on this order (Kafka second).
            allowed = [DNS, KAFKA, OIDC] if intake and egress else [DNS, KAFKA]
            if component == "gateway" and egress:
                allowed = [*allowed, INTAKE_API]
            assert egress in ([], allowed), policy["metadata"]["name"]


@pytest.mark.parametrize("role", HTTP_ROLES)
def test_intake_accepts_its_http_port_only(role: str) -> None:
    intake = deployment(role)
    (rule,) = own_policy(intake)["spec"]["ingress"]
    (port,) = rule["ports"]
    assert port["protocol"] == "TCP"
    assert port_number(intake, port["port"]) == AGREED_PORTS[role]


@pytest.mark.parametrize("role", [r for r in ROLES if r not in HTTP_ROLES])
def test_only_prometheus_reaches_a_worker_and_only_its_metrics_port(role: str) -> None:
    workload = deployment(role)
    (rule,) = own_policy(workload)["spec"]["ingress"]
    assert rule["from"] == [PROMETHEUS]
    (port,) = rule["ports"]
    assert port_number(workload, port["port"]) == AGREED_PORTS[role]


def test_the_topology_job_accepts_nothing() -> None:
    (job,) = by_kind("Job")
    for policy in policies_for(pod_labels(job)):
        assert not policy["spec"].get("ingress"), policy["metadata"]["name"]


def test_the_example_overlay_patches_the_kafka_rule_of_every_workload_policy() -> None:
    doc = load_yaml(K8S / "overlays" / "example" / "kustomization.yaml")
    (patch,) = [p for p in doc["patches"] if p.get("target", {}).get("kind") == "NetworkPolicy"]
    ops = load_yaml(K8S / "overlays" / "example" / patch["path"])
    assert [op["path"] for op in ops] == ["/spec/egress/1/to"]
    selector = patch["target"]["labelSelector"]
    patched = [p for p in by_kind("NetworkPolicy") if selector in p["metadata"].get("labels", {})]
    # Every policy with an egress rule, and only those (a JSON patch of a path
    # that is not there fails the build).
    assert {p["metadata"]["name"] for p in patched} == {
        p["metadata"]["name"] for p in by_kind("NetworkPolicy") if p["spec"].get("egress")
    }
