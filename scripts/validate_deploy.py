"""Validate docker-compose.yml and every kustomize build under deploy/k8s, offline.

No Docker engine and no cluster are needed. Each check is a real validator:

- compose, schema:   check-jsonschema with the Compose Specification's JSON schema
                     it vendors (`--builtin-schema vendor.compose-spec`);
- compose, loader:   compose-go, the Compose Specification's reference loader that
                     `docker compose config` runs (interpolation, normalisation,
                     consistency), plus: every bind-mounted source exists (compose
                     would otherwise create an empty directory in its place);
- compose, docker:   `docker compose config --quiet`, when the docker CLI here has
                     the compose plugin (reported as not run otherwise);
- kustomize build:   sigs.k8s.io/kustomize of deploy/k8s/base and of every overlay
                     under deploy/k8s/overlays;
- manifests:         every rendered object against the Kubernetes OpenAPI schemas
                     that kubernetes-validate bundles, strictly (unknown fields
                     fail), for the oldest and newest Kubernetes versions supported.

The Python validators are dev dependencies (pyproject.toml). The Go ones are built
with `go install` at pinned versions into a cache outside the repository
($HOMEWARD_TOOLS_DIR, default ~/.cache/homeward/tools): a missing cache is
rebuilt, never required. Without Go, `kubectl kustomize` stands in for kustomize
if kubectl is installed; compose-go then cannot run and the validation fails.

    python scripts/validate_deploy.py [--json]      # `make validate`

Exit status 0 when every check that must run ran and passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"

# The oldest Kubernetes the manifests support (PodDisruptionBudget's
# unhealthyPodEvictionPolicy is on by default from 1.27; 1.29 is the oldest
# version still maintained upstream in 2024) and the newest kubernetes-validate knows.
K8S_MIN_VERSION = "1.29.0"

# (module, version, the binary go install makes, its directory in the cache)
KUSTOMIZE = ("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.1", "kustomize", "kustomize")
# Newer compose-go majors are not served by the module proxy yet; v2 is what
# docker compose v2 is built on.
COMPOSE_GO = ("github.com/compose-spec/compose-go/v2/cmd", "v2.16.2", "cmd", "compose-go")

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"


@dataclass
class Check:
    name: str
    status: str
    tool: str
    detail: str = ""


class ToolMissing(Exception):
    """A validator could not be found or built."""


# --------------------------------------------------------------------------- tools


def tools_dir() -> Path:
    default = Path.home() / ".cache" / "homeward" / "tools"
    return Path(os.environ.get("HOMEWARD_TOOLS_DIR", default))


def go_tool(
    module: str, version: str, binary: str, name: str, *, install: bool = True
) -> Path | None:
    """The binary of `module@version`, built with `go install` on first use
    (None when it is not there and may not or cannot be built)."""
    target = tools_dir() / f"{name}-{version}"
    path = target / binary
    if path.is_file() and os.access(path, os.X_OK):
        return path
    go = shutil.which("go")
    if not install or go is None:
        return None
    target.mkdir(parents=True, exist_ok=True)
    # GOTOOLCHAIN=local: never download a Go toolchain; a version the local Go
    # cannot build is a pin to change, not something to fetch around.
    env = {**os.environ, "GOBIN": str(target), "GOTOOLCHAIN": "local"}
    done = subprocess.run(
        [go, "install", f"{module}@{version}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise ToolMissing(f"go install {module}@{version} failed: {done.stderr.strip()[-2000:]}")
    return path


def kustomize_command(*, install: bool = True) -> tuple[list[str], str]:
    """(command prefix to build a directory, tool name and version)."""
    try:
        path = go_tool(*KUSTOMIZE, install=install)
    except ToolMissing:
        path = None
    if path is not None:
        return [str(path), "build"], f"kustomize {KUSTOMIZE[1]}"
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        out = subprocess.run(
            [kubectl, "version", "--client"], capture_output=True, text=True, check=False
        ).stdout
        embedded = next(
            (line.split(":", 1)[1].strip() for line in out.splitlines() if "Kustomize" in line),
            "unknown",
        )
        return [kubectl, "kustomize"], f"kubectl kustomize (kustomize {embedded})"
    raise ToolMissing("neither Go (to build kustomize) nor kubectl is installed")


# --------------------------------------------------------------------------- Kubernetes


def kustomize_roots() -> list[Path]:
    """The directories a site builds: the base and every overlay."""
    overlays = K8S / "overlays"
    roots = [K8S / "base"]
    if overlays.is_dir():
        roots += sorted(p.parent for p in overlays.glob("*/kustomization.yaml"))
    return roots


def kustomize_build(root: Path, command: Sequence[str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*command, str(root)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise ValueError(done.stderr.strip() or f"exit {done.returncode}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def k8s_versions() -> list[str]:
    import kubernetes_validate

    newest = str(kubernetes_validate.latest_version())
    return [K8S_MIN_VERSION] if newest == K8S_MIN_VERSION else [K8S_MIN_VERSION, newest]


def validate_objects(objects: Iterable[dict[str, Any]], versions: Sequence[str]) -> list[str]:
    """One line per object that fails a version's schema (strict: unknown fields fail)."""
    import kubernetes_validate

    errors = []
    for obj in objects:
        what = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        for k8s in versions:
            try:
                kubernetes_validate.validate(obj, k8s, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = "/".join(str(p) for p in exc.path)
                errors.append(f"{what} (Kubernetes {k8s}): {path}: {exc.message}")
            except (
                kubernetes_validate.SchemaNotFoundError,
                kubernetes_validate.InvalidSchemaError,
            ):
                errors.append(f"{what} (Kubernetes {k8s}): no schema for {obj.get('apiVersion')}")
    return errors


def check_kubernetes(install: bool = True) -> Iterator[Check]:
    try:
        command, tool = kustomize_command(install=install)
    except ToolMissing as exc:
        yield Check("kustomize build", FAILED, "kustomize", str(exc))
        return
    versions = k8s_versions()
    validator = f"kubernetes-validate {package_version('kubernetes-validate')} (strict)"
    for root in kustomize_roots():
        where = root.relative_to(ROOT).as_posix()
        try:
            objects = kustomize_build(root, command)
        except (ValueError, subprocess.TimeoutExpired) as exc:
            yield Check(f"kustomize build {where}", FAILED, tool, str(exc))
            continue
        yield Check(f"kustomize build {where}", PASSED, tool, f"{len(objects)} objects")
        errors = validate_objects(objects, versions)
        versions_text = ", ".join(versions)
        yield Check(
            f"manifests of {where} against Kubernetes {versions_text}",
            FAILED if errors else PASSED,
            validator,
            "\n".join(errors) if errors else f"{len(objects)} objects valid",
        )


# --------------------------------------------------------------------------- Compose


def check_compose_schema(path: Path = COMPOSE_FILE) -> Check:
    tool = f"check-jsonschema {package_version('check-jsonschema')} (vendor.compose-spec)"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    status = PASSED if done.returncode == 0 else FAILED
    return Check(
        "compose file against the Compose Specification schema",
        status,
        tool,
        (done.stdout + done.stderr).strip(),
    )


def compose_go_load(binary: Path, path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The project as compose-go normalises it (paths resolved), or ValueError."""
    done = subprocess.run(
        [str(binary), "--format", "json", str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError((done.stderr or done.stdout).strip())
    loaded = json.loads(done.stdout)
    if not isinstance(loaded, dict):
        raise ValueError("compose-go printed no project")
    return loaded


def missing_bind_sources(project: dict[str, Any]) -> list[str]:
    missing = []
    for name, service in project.get("services", {}).items():
        for volume in service.get("volumes") or []:
            if volume.get("type") == "bind" and not Path(volume["source"]).exists():
                missing.append(f"{name}: {volume['source']} (mounted at {volume['target']})")
    return missing


def check_compose_go(install: bool = True) -> Check:
    tool = f"compose-go {COMPOSE_GO[1]}"
    name = "compose file loaded by compose-go (docker compose's loader)"
    try:
        binary = go_tool(*COMPOSE_GO, install=install)
    except ToolMissing as exc:
        return Check(name, FAILED, tool, str(exc))
    if binary is None:
        return Check(name, FAILED, tool, "Go is not installed, so compose-go cannot be built")
    try:
        project = compose_go_load(binary)
    except ValueError as exc:
        return Check(name, FAILED, tool, str(exc))
    missing = missing_bind_sources(project)
    if missing:
        return Check(name, FAILED, tool, "bind-mounted sources missing:\n" + "\n".join(missing))
    return Check(name, PASSED, tool, f"{len(project.get('services', {}))} services")


def check_docker_compose() -> Check:
    name = "docker compose config"
    docker = shutil.which("docker")
    if docker is None:
        return Check(name, NOT_RUN, "docker", "no docker CLI here")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        return Check(name, NOT_RUN, "docker", "the docker CLI here has no compose plugin")
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    status = PASSED if done.returncode == 0 else FAILED
    return Check(name, status, probe.stdout.strip(), done.stderr.strip())


# --------------------------------------------------------------------------- main


def run_all(install: bool = True) -> list[Check]:
    return [
        check_compose_schema(),
        check_compose_go(install),
        check_docker_compose(),
        *check_kubernetes(install),
    ]


def report(checks: Sequence[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"{check.status.upper():8} {check.name}  [{check.tool}]")
        if check.status != PASSED and check.detail:
            lines += [f"         {line}" for line in check.detail.splitlines()]
    passed = sum(c.status == PASSED for c in checks)
    failed = sum(c.status == FAILED for c in checks)
    not_run = sum(c.status == NOT_RUN for c in checks)
    lines.append(
        f"deploy validation: {passed} of {len(checks)} checks passed"
        f" ({failed} failing, {not_run} not run)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    checks = run_all()
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(report(checks))
    return 1 if any(c.status == FAILED for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
