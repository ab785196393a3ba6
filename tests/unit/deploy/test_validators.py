"""scripts/validate_deploy.py: its validators pass the real files and refuse
broken ones. The Kubernetes schema and compose schema checks always run (Python
dev dependencies); the kustomize build and compose-go checks run here when the
tools are already there (`make validate` builds them; tests never do)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.support import (
    COMPOSE,
    K8S,
    ROLES,
    k8s_objects,
    project_version,
    validate_deploy,
)

vd = validate_deploy()


def kustomize_or_skip() -> list[str]:
    try:
        command, _ = vd.kustomize_command(install=False)
    except vd.ToolMissing:
        pytest.skip("neither a built kustomize (make validate) nor kubectl is here")
    return list(command)


def test_the_base_objects_pass_the_kubernetes_schemas_strictly() -> None:
    assert vd.validate_objects(k8s_objects(), vd.k8s_versions()) == []


def test_the_kubernetes_check_refuses_unknown_fields_and_wrong_types() -> None:
    (intake,) = [
        o
        for o in k8s_objects()
        if o["metadata"]["name"] == "homeward-intake" and o["kind"] == "Deployment"
    ]
    typo = copy.deepcopy(intake)
    typo["spec"]["replica"] = typo["spec"].pop("replicas")
    wrong_type = copy.deepcopy(intake)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    errors = vd.validate_objects([typo, wrong_type], [vd.K8S_MIN_VERSION])
    assert len(errors) == 2
    assert "'replica' was unexpected" in errors[0]
    assert "containerPort" in errors[1]


def test_the_kubernetes_check_refuses_a_kind_it_has_no_schema_for() -> None:
    errors = vd.validate_objects(
        [{"apiVersion": "v1", "kind": "Nonsense", "metadata": {"name": "x"}}], [vd.K8S_MIN_VERSION]
    )
    assert errors and "no schema" in errors[0]


def test_the_compose_file_passes_the_compose_schema() -> None:
    check = vd.check_compose_schema(COMPOSE)
    assert check.status == vd.PASSED, check.detail


def test_the_compose_schema_check_refuses_a_misspelt_key(tmp_path: Path) -> None:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    doc["services"]["intake"]["helthcheck"] = doc["services"]["intake"].pop("healthcheck")
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    check = vd.check_compose_schema(broken)
    assert check.status == vd.FAILED
    assert "helthcheck" in check.detail


def test_missing_bind_sources_are_named() -> None:
    project: dict[str, Any] = {
        "services": {
            "prometheus": {
                "volumes": [
                    {"type": "bind", "source": str(COMPOSE), "target": "/a"},
                    {
                        "type": "bind",
                        "source": "/nonexistent/rules",
                        "target": "/etc/prometheus/rules",
                    },
                    {"type": "volume", "source": "data", "target": "/prometheus"},
                ]
            }
        }
    }
    assert vd.missing_bind_sources(project) == [
        "prometheus: /nonexistent/rules (mounted at /etc/prometheus/rules)"
    ]


def test_the_report_says_what_ran() -> None:
    checks = [
        vd.Check("a", vd.PASSED, "t"),
        vd.Check("b", vd.FAILED, "t", "why"),
        vd.Check("c", vd.NOT_RUN, "t", "no tool"),
    ]
    text = vd.report(checks)
    assert "FAILED   b  [t]\n         why" in text
    assert "NOT RUN  c  [t]\n         no tool" in text
    assert text.splitlines()[-1] == "deploy validation: 1 of 3 checks passed (1 failing, 1 not run)"


def test_the_compose_file_loads_in_compose_go() -> None:
    binary = vd.go_tool(*vd.COMPOSE_GO, install=False)
    if binary is None:
        pytest.skip("compose-go is not built yet (make validate builds it)")
    project = vd.compose_go_load(binary, COMPOSE)
    assert set(ROLES) <= project["services"].keys()
    assert vd.missing_bind_sources(project) == []


def test_kustomize_builds_the_base_into_one_namespace_and_image() -> None:
    objects = vd.kustomize_build(K8S / "base", kustomize_or_skip())
    assert {o["kind"] for o in objects} >= {
        "Namespace",
        "ConfigMap",
        "Job",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "homeward", obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "homeward"
        if obj["kind"] in {"Deployment", "Job"}:
            spec = obj["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                assert container["image"] == f"homeward:{project_version()}"
    assert vd.validate_objects(objects, vd.k8s_versions()) == []


def test_kustomize_builds_the_example_overlay_with_its_patches() -> None:
    objects = vd.kustomize_build(K8S / "overlays" / "example", kustomize_or_skip())
    policies = [o for o in objects if o["kind"] == "NetworkPolicy" and o["spec"].get("egress")]
    assert policies
    for policy in policies:
        assert "ipBlock" in policy["spec"]["egress"][1]["to"][0], policy["metadata"]["name"]
    (config,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "homeward-config"
    ]
    assert "example.org" in config["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert vd.validate_objects(objects, vd.k8s_versions()) == []


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_docker_compose_config_runs_or_says_why_not() -> None:
    check = vd.check_docker_compose()
    assert check.status in {vd.PASSED, vd.NOT_RUN}, check.detail
    if check.status == vd.NOT_RUN:
        assert check.detail
