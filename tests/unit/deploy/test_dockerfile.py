"""The image: what it installs and copies, and the variables it sets."""

from __future__ import annotations

import re

from tests.unit.deploy.support import (
    AGREED_PORTS,
    DOCKERIGNORE,
    ROOT,
    dockerfile_copies,
    dockerfile_env,
    dockerfile_instructions,
    known_env,
    repo_path_in_image,
    unknown,
)


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
        "HOMEWARD_FANOUT_METRICS_PORT",
        "HOMEWARD_REFERRALS_METRICS_PORT",
        "HOMEWARD_DETECTOR_METRICS_PORT",
        "HOMEWARD_SCHEMA_DIR",
        "HOMEWARD_TOPOLOGY_FILE",
    ):
        assert name in known, name


def test_the_env_check_refuses_a_name_nothing_reads() -> None:
    assert unknown({"HOMEWARD_INTAKE_HOSTNAME", "HOMEWARD_FANOUT_DIR"}) == [
        "HOMEWARD_FANOUT_DIR",
        "HOMEWARD_INTAKE_HOSTNAME",
    ]


def test_dockerfile_base_user_and_install() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for ins, args in instructions if ins == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    runs = " ".join(args for ins, args in instructions if ins == "RUN")
    # The services extra: the base install is only the agency SDK (no Faust, no FastAPI).
    assert "pip install --no-cache-dir '.[services]'" in runs
    assert not re.search(r"pip install[^&;]*\s(-e|--editable)\s", runs), "editable install"
    # No CMD magic: each container's command comes from compose / k8s.
    assert not [ins for ins, _ in instructions if ins in {"CMD", "ENTRYPOINT"}]


def test_dockerfile_exposes_the_agreed_ports() -> None:
    exposed = {
        int(port.split("/")[0])
        for ins, args in dockerfile_instructions()
        if ins == "EXPOSE"
        for port in args.split()
    }
    assert exposed == set(AGREED_PORTS.values())


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
