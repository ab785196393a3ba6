"""deploy/k8s/base: a Deployment per service role with probes, resources, a
PodDisruptionBudget, a Service and scrape annotations on the agreed port;
configuration by ConfigMap, credentials by Secret reference; the topology Job."""

from __future__ import annotations

import posixpath
import re
from typing import Any

import pytest

from homeward.topology.model import Topology
from tests.unit.deploy.support import (
    AGENCY_DIRECTORY_CONFIGMAP,
    AGREED_PORTS,
    CREDENTIALS_SECRET,
    K8S,
    K8S_BASE,
    PORT_ENV,
    ROLES,
    TOPOLOGY_COMMAND,
    by_kind,
    container_env,
    deployment,
    dockerfile_env,
    homeward_containers,
    k8s_files,
    k8s_objects,
    kustomizations,
    load_yaml,
    main_container,
    module_exists,
    module_of,
    named,
    pod_labels,
    project_version,
    selects,
    unknown,
)

# audit and gateway: plain kafka-python
FAUST_ROLES = [r for r in ROLES if r not in ("intake", "audit", "gateway")]


def quantity(value: str | int) -> float:
    """A Kubernetes CPU or memory quantity in base units (cores, bytes)."""
    match = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G)?", str(value))
    assert match, value
    number, suffix = float(match[1]), match[2] or ""
    scale = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20}
    scale |= {"Gi": 2**30, "Ti": 2**40}
    return number * scale[suffix]


def container_port(container: dict[str, Any], port: str | int) -> int:
    """A probe's or Service's port (a name or a number) as the container's number."""
    for p in container.get("ports", []):
        if port in (p.get("name"), p["containerPort"]):
            return int(p["containerPort"])
    raise AssertionError(f"no port {port} on container {container['name']}")


def test_every_manifest_parses() -> None:
    assert k8s_files(), "no manifests under deploy/k8s/base"
    for obj in k8s_objects():
        assert {"apiVersion", "kind", "metadata"} <= obj.keys(), obj
        assert obj["metadata"].get("name"), obj


def test_a_deployment_per_service_role_running_its_module() -> None:
    names = {d["metadata"]["name"] for d in by_kind("Deployment")}
    assert names == {f"homeward-{role}" for role in ROLES}
    for role in ROLES:
        container = main_container(deployment(role))
        assert container["image"] == "homeward"
        assert module_of(container["command"]) == f"homeward_{role}"


def test_k8s_containers_run_modules_that_exist() -> None:
    for workload, _, container in homeward_containers():
        module = module_of(container["command"])
        assert module_exists(module), f"{workload['metadata']['name']}: no package {module}"


def test_k8s_topology_job() -> None:
    (job,) = by_kind("Job")
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] in {"Never", "OnFailure"}
    (container,) = spec["containers"]
    assert container["command"] == TOPOLOGY_COMMAND


@pytest.mark.parametrize("role", FAUST_ROLES)
def test_k8s_faust_workers_apply_the_topology_before_faust_starts(role: str) -> None:
    # Otherwise Faust, started before the Job has run, creates its changelog
    # topics itself without the declared settings.
    init = deployment(role)["spec"]["template"]["spec"].get("initContainers", [])
    assert [c["command"] for c in init] == [TOPOLOGY_COMMAND]


def test_k8s_sets_only_variables_the_code_reads() -> None:
    for workload, _, container in homeward_containers():
        assert unknown(set(container_env(container))) == [], workload["metadata"]["name"]


def test_k8s_configmap_has_the_production_settings() -> None:
    data = named("ConfigMap", "homeward-config")["data"]
    assert data["KAFKA_BOOTSTRAP_SERVERS"]
    assert data["HOMEWARD_TOPOLOGY_REPLICATION"] == "3"
    assert data["HOMEWARD_TOPOLOGY_MIN_ISR"] == "2"
    assert data["HOMEWARD_FANOUT_DIRECTORY"] == "/etc/homeward/agencies.csv"
    assert data["HOMEWARD_REFERRALS_DIRECTORY"] == "/etc/homeward/agencies.csv"
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap values must be strings"
    assert not [k for k in data if re.search("PASSWORD|USERNAME|SECRET", k)]


def test_k8s_every_container_reads_config_and_optional_credentials() -> None:
    configmaps = {c["metadata"]["name"] for c in by_kind("ConfigMap")}
    for workload, _, container in homeward_containers():
        name = workload["metadata"]["name"]
        refs = container.get("envFrom", [])
        assert any(r.get("configMapRef", {}).get("name") in configmaps for r in refs), name
        secrets = [r["secretRef"] for r in refs if "secretRef" in r]
        assert {"name": CREDENTIALS_SECRET, "optional": True} in secrets, name


def test_k8s_ships_no_secret_values() -> None:
    assert by_kind("Secret") == []
    for path in kustomizations():
        assert "secretGenerator" not in load_yaml(path), path


def test_k8s_every_container_has_resources_within_limits() -> None:
    for workload, _, container in homeward_containers():
        resources = container.get("resources", {})
        name = workload["metadata"]["name"]
        for resource in ("cpu", "memory"):
            request = resources["requests"][resource]
            limit = resources["limits"][resource]
            assert quantity(request) <= quantity(limit), (name, resource)


@pytest.mark.parametrize("role", ROLES)
def test_k8s_probes_on_the_agreed_port(role: str) -> None:
    container = main_container(deployment(role))
    port = AGREED_PORTS[role]
    assert container_env(container)[PORT_ENV[role]] == str(port)
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, (role, probe)
        assert container_port(container, get["port"]) == port, (role, probe)


@pytest.mark.parametrize("role", ROLES)
def test_k8s_scrape_annotations_on_the_agreed_port(role: str) -> None:
    annotations = deployment(role)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(AGREED_PORTS[role])
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("role", ROLES)
def test_k8s_pod_disruption_budget_per_deployment(role: str) -> None:
    workload = deployment(role)
    budgets = [
        p
        for p in by_kind("PodDisruptionBudget")
        if selects(p["spec"]["selector"], pod_labels(workload))
    ]
    assert len(budgets) == 1, role
    spec = budgets[0]["spec"]
    # One at a time, and never all: a Faust eviction is a group rebalance.
    assert spec.get("maxUnavailable") == 1 or spec["minAvailable"] < workload["spec"]["replicas"]
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize("role", ROLES)
def test_k8s_service_per_deployment_on_the_agreed_port(role: str) -> None:
    workload = deployment(role)
    services = [
        s
        for s in by_kind("Service")
        if s["spec"]["selector"].items() <= pod_labels(workload).items()
    ]
    assert len(services) == 1, role
    (port,) = services[0]["spec"]["ports"]
    assert port["port"] == AGREED_PORTS[role]
    assert container_port(main_container(workload), port["targetPort"]) == AGREED_PORTS[role]


def test_k8s_deployment_selectors_match_their_pods() -> None:
    for workload in by_kind("Deployment"):
        assert selects(workload["spec"]["selector"], pod_labels(workload)), workload["metadata"][
            "name"
        ]


@pytest.mark.parametrize(
    ("role", "variable"),
    [("fanout", "HOMEWARD_FANOUT_DIRECTORY"), ("referrals", "HOMEWARD_REFERRALS_DIRECTORY")],
)
def test_k8s_reads_the_site_agency_directory(role: str, variable: str) -> None:
    spec = deployment(role)["spec"]["template"]["spec"]
    container = main_container(deployment(role))
    directory = container_env(container)[variable]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[posixpath.dirname(directory)]
    assert volumes[mount["name"]]["configMap"]["name"] == AGENCY_DIRECTORY_CONFIGMAP
    # The site creates that ConfigMap (key agencies.csv); the base says how.
    kustomization = (K8S_BASE / "kustomization.yaml").read_text(encoding="utf-8")
    assert f"create configmap {AGENCY_DIRECTORY_CONFIGMAP}" in kustomization
    assert f"--from-file={posixpath.basename(directory)}=" in kustomization


def test_k8s_read_only_root_leaves_the_writable_paths_mounted() -> None:
    # Faust creates its data directory even with an in-memory store.
    faust_parent = posixpath.dirname(dockerfile_env()["FAUST_DATADIR"])
    for workload, spec, container in homeward_containers():
        security = container.get("securityContext", {})
        assert security.get("allowPrivilegeEscalation") is False
        assert security.get("capabilities") == {"drop": ["ALL"]}
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        if not security.get("readOnlyRootFilesystem"):
            continue
        mounted = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounted, workload["metadata"]["name"]
        if module_of(container["command"]) in {f"homeward_{r}" for r in FAUST_ROLES}:
            assert faust_parent in mounted


# --------------------------------------------------------------------------- scaling


def source_partitions(role: str) -> int:
    """The fewest partitions among the topics a role reads: more workers than
    that leaves some of them idle."""
    topics = [t for t in Topology.load(prefix="").all() if role in t.readers]
    assert topics, role
    return min(t.partitions for t in topics)


def overlay_replicas() -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in kustomizations():
        for item in load_yaml(path).get("replicas", []):
            counts[f"{path.parent.name}/{item['name']}"] = int(item["count"])
    return counts


@pytest.mark.parametrize("role", FAUST_ROLES)
def test_k8s_faust_replicas_within_the_partition_count(role: str) -> None:
    limit = source_partitions(role)
    assert 2 <= deployment(role)["spec"]["replicas"] <= limit
    for where, count in overlay_replicas().items():
        if where.endswith(f"/homeward-{role}"):
            assert count <= limit, where


# --------------------------------------------------------------------------- kustomize layout


def test_every_kustomization_lists_every_file_and_directory_beside_it() -> None:
    assert K8S_BASE / "kustomization.yaml" in kustomizations()
    for path in kustomizations():
        doc = load_yaml(path)
        resources = doc.get("resources", [])
        listed = {r for r in resources if not r.startswith("..")}
        patches = {p["path"] for p in doc.get("patches", []) if "path" in p}
        local = {p.name for p in path.parent.glob("*.yaml") if p.name != "kustomization.yaml"}
        local |= {p.parent.name for p in path.parent.glob("*/kustomization.yaml")}
        assert listed | patches == local, path
        for resource in resources:
            assert (path.parent / resource).exists(), resource


def test_kustomization_namespace_and_image() -> None:
    doc = load_yaml(K8S_BASE / "kustomization.yaml")
    (namespace,) = by_kind("Namespace")
    assert doc["namespace"] == namespace["metadata"]["name"] == "homeward"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    images = {i["name"]: i for i in doc["images"]}
    assert images["homeward"]["newTag"] == project_version()
    for workload, _, container in homeward_containers():
        assert container["image"] == "homeward", workload["metadata"]["name"]


def test_overlays_build_on_the_base() -> None:
    overlays = sorted((K8S / "overlays").glob("*/kustomization.yaml"))
    assert overlays, "no example overlay"
    for path in overlays:
        assert "../../base" in load_yaml(path)["resources"], path
