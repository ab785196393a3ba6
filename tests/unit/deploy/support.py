"""Loading the deployment files, and what the code reads, for tests/unit/deploy.

Fast and offline: no Docker engine, no cluster. The files are parsed as YAML
(the Dockerfile as text) and checked against what the services read: their
entry points, their settings classes and their os.environ reads.
"""

from __future__ import annotations

import importlib
import importlib.util
import posixpath
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from homeward.topology.model import SERVICE_ROLES

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ROOT / "services"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
K8S_BASE = K8S / "base"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMETHEUS_RULES = ROOT / "deploy" / "prometheus" / "rules"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
GRAFANA_DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"

# The ports every deployment agrees on: intake's and the gateway's HTTP ports (their /metrics too),
# and each Faust service's /metrics, /healthz and /readyz.
AGREED_PORTS = {
    "intake": 8080,
    "gateway": 8090,
    "fanout": 9101,
    "referrals": 9102,
    "detector": 9103,
    "audit": 9104,
}
# The variable that sets each service's port.
PORT_ENV = {
    "intake": "HOMEWARD_INTAKE_PORT",
    "gateway": "HOMEWARD_GATEWAY_PORT",
    "fanout": "HOMEWARD_FANOUT_METRICS_PORT",
    "referrals": "HOMEWARD_REFERRALS_METRICS_PORT",
    "detector": "HOMEWARD_DETECTOR_METRICS_PORT",
    "audit": "HOMEWARD_AUDIT_METRICS_PORT",
}
ROLES = sorted(SERVICE_ROLES)

TOPOLOGY_COMMAND = ["python", "-m", "homeward.topology", "apply"]
CREDENTIALS_SECRET = "homeward-kafka-credentials"
AGENCY_DIRECTORY_CONFIGMAP = "homeward-agency-directory"

# Variables that are set for Homeward containers but read by something other
# than Homeward's own code, each with who reads it.
THIRD_PARTY_ENV = {
    "PYTHONDONTWRITEBYTECODE": "the interpreter",
    "PYTHONUNBUFFERED": "the interpreter",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip, at build time",
    "FAUST_DATADIR": "Faust (faust.types._env.DATADIR): the workers' data directory",
}

ENVIRON_READ = re.compile(
    r"""os\.(?:environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    doc = load_yaml(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def is_homeward_image(image: str | None) -> bool:
    return image is not None and image.split(":")[0].rsplit("/", 1)[-1] == "homeward"


def compose_homeward_services() -> dict[str, dict[str, Any]]:
    services = compose()["services"]
    return {n: s for n, s in services.items() if is_homeward_image(s.get("image"))}


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=value list form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def compose_binds(service: dict[str, Any]) -> dict[str, str]:
    """container path -> repo-relative source of each bind mount (short syntax)."""
    binds = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("."):
            binds[target] = source
    return binds


# --------------------------------------------------------------------------- Kubernetes


def k8s_files() -> list[Path]:
    """The base's manifests (overlays hold patches, not whole objects)."""
    return sorted(p for p in K8S_BASE.rglob("*.yaml") if p.name != "kustomization.yaml")


@cache
def _k8s_objects() -> tuple[dict[str, Any], ...]:
    objects = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                objects.append(doc)
    return tuple(objects)


def k8s_objects() -> list[dict[str, Any]]:
    return list(_k8s_objects())


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in k8s_objects() if o["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in by_kind(kind) if o["metadata"]["name"] == name]
    return obj


def deployment(role: str) -> dict[str, Any]:
    return named("Deployment", f"homeward-{role}")


def main_container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


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


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A matchLabels selector (the only kind these manifests use) picks these labels."""
    assert set(selector) <= {"matchLabels"}, selector
    return dict(selector.get("matchLabels", {})).items() <= labels.items()


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


# --------------------------------------------------------------------------- Dockerfile


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


@cache
def settings_env_names() -> frozenset[str]:
    """Every variable a pydantic-settings class under services/ reads."""
    names: set[str] = set()
    # A service's parts may have their own (the gateway's console, webhooks, ...).
    for path in [*SERVICES.glob("*/settings.py"), *SERVICES.glob("*/*/settings.py")]:
        package = ".".join(path.parent.relative_to(SERVICES).parts)
        module = importlib.import_module(f"{package}.settings")
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
    return frozenset(names)


@cache
def environ_reads() -> frozenset[str]:
    """Every variable named literally in an os.environ / os.getenv read under services/."""
    names: set[str] = set()
    for path in SERVICES.rglob("*.py"):
        for match in ENVIRON_READ.finditer(path.read_text(encoding="utf-8")):
            names.add(match.group(1) or match.group(2))
    return frozenset(names)


def known_env() -> set[str]:
    return set(settings_env_names()) | set(environ_reads()) | set(THIRD_PARTY_ENV)


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


# --------------------------------------------------------------------------- the validator


@cache
def validate_deploy() -> ModuleType:
    """scripts/validate_deploy.py, imported (it is a script, not a package)."""
    name = "homeward_validate_deploy"
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "validate_deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
