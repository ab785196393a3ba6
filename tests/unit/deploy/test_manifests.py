"""Dockerfile, docker-compose.yml and deploy/k8s agree with the code.

Fast and offline: no Docker engine, no cluster. The files are parsed as YAML
(and the Dockerfile as text) and checked against what the services actually
read: their entry points, their settings classes and their os.environ reads.
`kubectl kustomize` runs too when kubectl is on the PATH (it needs no cluster).
"""

from __future__ import annotations

import importlib
import posixpath
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ROOT / "services"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
K8S_BASE = K8S / "base"

TOPOLOGY_COMMAND = ["python", "-m", "homeward.topology", "apply"]
CREDENTIALS_SECRET = "homeward-kafka-credentials"
AGENCY_DIRECTORY_CONFIGMAP = "homeward-agency-directory"

# Variables that are set for Homeward containers but read by something other
# than Homeward's own code, each with who reads it.
THIRD_PARTY_ENV = {
    "PYTHONDONTWRITEBYTECODE": "the interpreter",
    "PYTHONUNBUFFERED": "the interpreter",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip, at build time",
    "FAUST_DATADIR": "Faust (faust.types._env.DATADIR): the fan-out's data directory",
}

ENVIRON_READ = re.compile(
    r"""os\.(?:environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)


# --------------------------------------------------------------------------- loading


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def is_homeward_image(image: str | None) -> bool:
    return image is not None and image.split(":")[0] == "homeward"


def compose_homeward_services() -> dict[str, dict[str, Any]]:
    services = compose()["services"]
    return {n: s for n, s in services.items() if is_homeward_image(s.get("image"))}


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=value list form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects() -> list[dict[str, Any]]:
    objects = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                objects.append(doc)
    return objects


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in k8s_objects() if o["kind"] == kind]


def pod_specs() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec) for every Deployment and Job."""
    for obj in k8s_objects():
        if obj["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
            yield obj, obj["spec"]["template"]["spec"]


def homeward_containers() -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec, container) for every container running the Homeward image."""
    for workload, spec in pod_specs():
        for container in spec.get("initContainers", []) + spec["containers"]:
            if is_homeward_image(container.get("image")):
                yield workload, spec, container


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """Everything a container gets from env and from ConfigMaps in these manifests."""
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in by_kind("ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update({k: str(v) for k, v in configmaps[source["configMapRef"]["name"]].items()})
    for item in container.get("env", []):
        env[item["name"]] = str(item.get("value", ""))
    return env


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [
        line
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def dockerfile_copies() -> list[tuple[str, str]]:
    """(source in the repo, absolute destination in the image) of every COPY."""
    copies = []
    workdir = "/"
    for instruction, args in dockerfile_instructions():
        if instruction == "WORKDIR":
            workdir = posixpath.join(workdir, args)
        elif instruction == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            dest = posixpath.join(workdir, parts[-1])
            for src in parts[:-1]:
                copies.append((src.rstrip("/"), dest))
    return copies


def repo_path_in_image(image_path: str) -> Path | None:
    """The repo file that ends up at image_path, going by the Dockerfile's COPYs."""
    for src, dest in dockerfile_copies():
        dest = dest.rstrip("/")
        if image_path == dest or image_path.startswith(dest + "/"):
            return ROOT / src / image_path[len(dest) :].lstrip("/")
    return None


# --------------------------------------------------------------------------- what the code reads


def settings_env_names() -> set[str]:
    """Every variable a pydantic-settings class under services/ reads."""
    names: set[str] = set()
    for path in SERVICES.glob("*/settings.py"):
        module = importlib.import_module(f"{path.parent.name}.settings")
        for obj in vars(module).values():
            if not (isinstance(obj, type) and issubclass(obj, BaseSettings)):
                continue
            if obj.__module__ != module.__name__ or obj is BaseSettings:
                continue
            prefix = str(obj.model_config.get("env_prefix", ""))
            for field_name, info in obj.model_fields.items():
                alias = info.validation_alias
                if isinstance(alias, AliasChoices):
                    names.update(str(c).upper() for c in alias.choices if isinstance(c, str))
                elif isinstance(alias, str):
                    names.add(alias.upper())
                else:
                    names.add(f"{prefix}{field_name}".upper())
    return names


def environ_reads() -> set[str]:
    """Every variable named literally in an os.environ / os.getenv read under services/."""
    names: set[str] = set()
    for path in SERVICES.rglob("*.py"):
        for match in ENVIRON_READ.finditer(path.read_text(encoding="utf-8")):
            names.add(match.group(1) or match.group(2))
    return names


def known_env() -> set[str]:
    return settings_env_names() | environ_reads() | set(THIRD_PARTY_ENV)


def unknown(names: set[str]) -> list[str]:
    known = known_env()
    return sorted(n for n in names if n.upper() not in known)


def module_exists(module: str) -> bool:
    """`python -m module` works: a package with __main__.py, or a module file."""
    path = SERVICES.joinpath(*module.split("."))
    return (path / "__main__.py").is_file() or path.with_suffix(".py").is_file()


def module_of(command: list[str]) -> str:
    assert command[:2] == ["python", "-m"], f"not a `python -m` command: {command}"
    return command[2]


# --------------------------------------------------------------------------- the checks' own checks


def test_the_env_check_knows_the_documented_variables() -> None:
    known = known_env()
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "HOMEWARD_KAFKA_SASL_PASSWORD",
        "HOMEWARD_TOPIC_PREFIX",
        "HOMEWARD_TOPOLOGY_REPLICATION",
        "HOMEWARD_TOPOLOGY_MIN_ISR",
        "HOMEWARD_INTAKE_HOST",
        "HOMEWARD_FANOUT_DIRECTORY",
        "HOMEWARD_SCHEMA_DIR",
        "HOMEWARD_TOPOLOGY_FILE",
    ):
        assert name in known, name


def test_the_env_check_refuses_a_name_nothing_reads() -> None:
    assert unknown({"HOMEWARD_INTAKE_HOSTNAME", "HOMEWARD_FANOUT_DIR"}) == [
        "HOMEWARD_FANOUT_DIR",
        "HOMEWARD_INTAKE_HOSTNAME",
    ]


def test_every_manifest_parses() -> None:
    assert COMPOSE.is_file()
    assert k8s_files(), "no manifests under deploy/k8s"
    for obj in k8s_objects():
        assert {"apiVersion", "kind", "metadata"} <= obj.keys(), obj
        assert obj["metadata"].get("name"), obj


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_base_user_and_install() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for ins, args in instructions if ins == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    runs = " ".join(args for ins, args in instructions if ins == "RUN")
    assert "pip install --no-cache-dir ." in runs
    assert not re.search(r"pip install[^&;]*\s(-e|--editable)\s", runs), "editable install"
    # No CMD magic: each container's command comes from compose / k8s.
    assert not [ins for ins, _ in instructions if ins in {"CMD", "ENTRYPOINT"}]


def test_dockerfile_copies_exist_and_are_not_ignored() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    sources = {src for src, _ in dockerfile_copies()}
    for required in (
        "pyproject.toml",
        "README.md",
        "services",
        "schemas",
        "topology",
        "deploy/demo",
    ):
        assert required in sources, f"the Dockerfile does not copy {required}"
    for src in sources:
        assert (ROOT / src).exists(), src
        assert src not in ignored, f"{src} is copied but .dockerignore excludes it"
    for noise in (".venv", ".run", "tests", ".pytest_cache", ".mypy_cache", ".ruff_cache"):
        assert noise in ignored, f".dockerignore does not exclude {noise}"


def test_image_points_the_installed_package_at_its_data() -> None:
    # In site-packages, homeward/paths.py's REPO_ROOT is not the repo: the
    # image must say where schemas/ and topology/ are, and they must be there.
    env = dockerfile_env()
    expected = {
        "HOMEWARD_SCHEMA_DIR": ROOT / "schemas" / "avro",
        "HOMEWARD_RELEASED_SCHEMA_DIR": ROOT / "schemas" / "released",
        "HOMEWARD_TOPOLOGY_FILE": ROOT / "topology" / "topics.yaml",
    }
    for name, repo_path in expected.items():
        assert name in env, f"the image does not set {name}"
        assert repo_path_in_image(env[name]) == repo_path, (name, env[name])
        assert repo_path.exists(), repo_path


def test_dockerfile_sets_only_variables_something_reads() -> None:
    assert unknown(set(dockerfile_env())) == []


# --------------------------------------------------------------------------- docker-compose.yml


def test_compose_runs_each_service_by_a_module_that_exists() -> None:
    services = compose_homeward_services()
    assert {"topology", "intake", "fanout"} <= services.keys()
    for name, service in services.items():
        module = module_of(service["command"])
        assert module_exists(module), f"{name}: no package {module} under services/"
    assert module_of(services["intake"]["command"]) == "homeward_intake"
    assert module_of(services["fanout"]["command"]) == "homeward_fanout"


def test_compose_applies_the_topology_once_before_the_services() -> None:
    services = compose()["services"]
    topology = services["topology"]
    assert topology["command"] == TOPOLOGY_COMMAND
    assert topology["restart"] == "no"  # the string: a bare `no` is YAML for false
    assert topology["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("intake", "fanout"):
        assert services[name]["depends_on"]["topology"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_kafka_is_a_single_kraft_node() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.2"
    env = compose_env(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert set(env["KAFKA_LISTENERS"].split(",")) == {"PLAINTEXT://:9092", "CONTROLLER://:9093"}
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    test = kafka["healthcheck"]["test"]
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in test
    assert "localhost:9092" in test


def test_compose_homeward_services_reach_the_advertised_broker() -> None:
    advertised = compose_env(compose()["services"]["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    address = advertised.split("://", 1)[1]
    for name, service in compose_homeward_services().items():
        assert compose_env(service).get("KAFKA_BOOTSTRAP_SERVERS") == address, name


def test_compose_sets_only_variables_the_code_reads() -> None:
    for name, service in compose_homeward_services().items():
        assert unknown(set(compose_env(service))) == [], name


def test_compose_image_is_this_version() -> None:
    for name, service in compose_homeward_services().items():
        assert service["image"] == f"homeward:{project_version()}", name


def test_compose_intake_listens_publicly_and_is_health_checked() -> None:
    intake = compose()["services"]["intake"]
    env = compose_env(intake)
    assert env["HOMEWARD_INTAKE_HOST"] == "0.0.0.0"
    port = env.get("HOMEWARD_INTAKE_PORT", "8080")
    assert f"{port}:{port}" in [str(p) for p in intake["ports"]]
    check = " ".join(intake["healthcheck"]["test"])
    assert "urllib" in check
    assert f":{port}/healthz" in check


def test_compose_fanout_directory_is_in_the_image() -> None:
    path = compose_env(compose()["services"]["fanout"])["HOMEWARD_FANOUT_DIRECTORY"]
    repo_path = repo_path_in_image(path)
    assert repo_path is not None and repo_path.is_file(), path


# --------------------------------------------------------------------------- deploy/k8s


def test_k8s_containers_run_modules_that_exist() -> None:
    modules = set()
    for workload, _, container in homeward_containers():
        module = module_of(container["command"])
        assert module_exists(module), f"{workload['metadata']['name']}: no package {module}"
        modules.add(module)
    assert {"homeward.topology", "homeward_intake", "homeward_fanout"} <= modules


def test_k8s_topology_job() -> None:
    jobs = by_kind("Job")
    assert len(jobs) == 1
    job = jobs[0]
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] in {"Never", "OnFailure"}
    (container,) = spec["containers"]
    assert container["command"] == TOPOLOGY_COMMAND


def test_k8s_fanout_applies_the_topology_before_faust_starts() -> None:
    # Otherwise Faust, started before the Job has run, creates its changelog
    # topic itself without the declared settings.
    (fanout,) = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "homeward-fanout"]
    init = fanout["spec"]["template"]["spec"].get("initContainers", [])
    assert [c["command"] for c in init] == [TOPOLOGY_COMMAND]


def test_k8s_sets_only_variables_the_code_reads() -> None:
    for workload, _, container in homeward_containers():
        assert unknown(set(container_env(container))) == [], workload["metadata"]["name"]


def test_k8s_configmap_has_the_production_settings() -> None:
    (config,) = [c for c in by_kind("ConfigMap") if c["metadata"]["name"] == "homeward-config"]
    data = config["data"]
    assert data["KAFKA_BOOTSTRAP_SERVERS"]
    assert data["HOMEWARD_TOPOLOGY_REPLICATION"] == "3"
    assert data["HOMEWARD_TOPOLOGY_MIN_ISR"] == "2"
    assert data["HOMEWARD_FANOUT_DIRECTORY"] == "/etc/homeward/agencies.csv"
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap values must be strings"


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


def test_k8s_every_container_has_resources() -> None:
    for workload, _, container in homeward_containers():
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources.get(kind, {}).keys(), (
                workload["metadata"]["name"],
                kind,
            )


def test_k8s_http_containers_have_probes_on_their_port() -> None:
    for workload in by_kind("Deployment"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            ports = container.get("ports", [])
            if not ports:
                continue
            names = {p.get("name") for p in ports} | {p["containerPort"] for p in ports}
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, (workload["metadata"]["name"], probe)
                assert container[probe]["httpGet"]["port"] in names


def test_k8s_intake() -> None:
    (intake,) = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "homeward-intake"]
    assert intake["spec"]["replicas"] == 2
    (container,) = intake["spec"]["template"]["spec"]["containers"]
    env = container_env(container)
    assert env["HOMEWARD_INTAKE_HOST"] == "0.0.0.0"
    (port,) = container["ports"]
    assert port["containerPort"] == int(env.get("HOMEWARD_INTAKE_PORT", "8080")) == 8080
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (service,) = by_kind("Service")
    labels = intake["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in {port.get("name"), port["containerPort"]}


def test_k8s_deployment_selectors_match_their_pods() -> None:
    for workload in by_kind("Deployment"):
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), workload["metadata"]["name"]


def test_k8s_fanout_reads_the_site_agency_directory() -> None:
    (fanout,) = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "homeward-fanout"]
    assert fanout["spec"]["replicas"] == 2
    spec = fanout["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    directory = container_env(container)["HOMEWARD_FANOUT_DIRECTORY"]
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
        assert spec["securityContext"]["runAsNonRoot"] is True
        if not security.get("readOnlyRootFilesystem"):
            continue
        mounted = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounted, workload["metadata"]["name"]
        if module_of(container["command"]) == "homeward_fanout":
            assert faust_parent in mounted


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def test_every_kustomization_lists_every_file_in_its_directory() -> None:
    assert K8S_BASE / "kustomization.yaml" in kustomizations()
    for path in kustomizations():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        listed = {r for r in doc.get("resources", []) if not r.startswith("..")}
        local = {p.name for p in path.parent.glob("*.yaml") if p.name != "kustomization.yaml"}
        assert listed == local, path
        for resource in doc.get("resources", []):
            assert (path.parent / resource).exists(), resource


def test_kustomization_namespace_and_image() -> None:
    doc = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    (namespace,) = by_kind("Namespace")
    assert doc["namespace"] == namespace["metadata"]["name"] == "homeward"
    images = {i["name"]: i for i in doc["images"]}
    assert images["homeward"]["newTag"] == project_version()
    for workload, _, container in homeward_containers():
        assert container["image"] == "homeward", workload["metadata"]["name"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_the_base() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S_BASE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    objects = [o for o in yaml.safe_load_all(built.stdout) if o]
    assert {o["kind"] for o in objects} >= {
        "Namespace",
        "ConfigMap",
        "Job",
        "Deployment",
        "Service",
    }
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "homeward", obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "homeward"
        if obj["kind"] in {"Deployment", "Job"}:
            spec = obj["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                assert container["image"] == f"homeward:{project_version()}"
