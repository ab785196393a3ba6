"""pyproject's split of the install: the base is the agency SDK, the services an extra,
and a regular install carries the schemas and the topology it reads."""

from __future__ import annotations

import tomllib

from homeward import paths

PYPROJECT = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _names(requirements: list[str]) -> set[str]:
    return {r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].strip() for r in requirements}


def test_the_base_install_has_no_stream_processor_and_no_web_server() -> None:
    base = _names(PYPROJECT["project"]["dependencies"])
    assert {"kafka-python", "fastavro", "pydantic", "httpx"} <= base
    assert not base & {"faust-streaming", "aiokafka", "fastapi", "uvicorn", "starlette"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert extras["agency"] == []  # the install line names what it is for; it adds nothing
    assert {"faust-streaming", "fastapi", "uvicorn"} <= _names(extras["services"])
    assert "homeward[services]" in extras["dev"]  # make setup: every service and test


def test_the_console_script_is_the_dispatcher() -> None:
    assert PYPROJECT["project"]["scripts"] == {"homeward": "homeward.cli:main"}


def test_every_released_schema_version_is_in_the_wheel() -> None:
    data = PYPROJECT["tool"]["setuptools"]["data-files"]
    released = sorted(p.name for p in (paths.REPO_ROOT / "schemas" / "released").iterdir())
    for version in released:
        target = f"share/homeward/schemas/released/{version}"
        assert data.get(target) == [f"schemas/released/{version}/*.avsc"], target
    assert data["share/homeward/schemas/avro"] == ["schemas/avro/*.avsc"]
    assert data["share/homeward/topology"] == ["topology/*.yaml"]
