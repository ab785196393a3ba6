"""What an agency's engineer installs: `pip install '<repo>[agency]'` into a clean
venv (a regular install, not editable, from a copy of the sources), which brings no
Faust and no web server, and whose subscriber CLI reads, shows and acknowledges a
delivery on the real (SCRAM, ACL) broker under the agency type's own principal.

The venv is built once per module; pip takes wheels from $PIP_CACHE_DIR (as
`make setup` does), so after the first run this is mostly the venv's own start-up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka import TopicPartition

from homeward import kafka, paths
from homeward.events import AgencyAcknowledgement
from homeward_agency.subscriber import group_id_for
from tests.fixtures.bus import Bus
from tests.integration.agency_broker_io import CliRun, acks, codec, committed, produce
from tests.unit.agency import samples as s

pytestmark = pytest.mark.integration

SERVER_SIDE = ("faust", "mode", "aiokafka", "fastapi", "starlette", "uvicorn")
# What the sources' build needs; nothing else of the checkout goes into the copy.
SOURCES = ("pyproject.toml", "README.md", "services", "schemas", "topology")
# Variables that would let the installed SDK find the checkout instead of its own data.
CHECKOUT_ENV = (
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "HOMEWARD_SCHEMA_DIR",
    "HOMEWARD_RELEASED_SCHEMA_DIR",
    "HOMEWARD_TOPOLOGY_FILE",
)


def clean_env(base: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in base.items() if k not in CHECKOUT_ENV}


@pytest.fixture(scope="module")
def agency_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("agency-install")
    src = root / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        path = paths.REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    venv = root / "venv"
    env = clean_env(dict(os.environ))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"{src}[agency]",
        ],
        env=env,  # keeps PIP_CACHE_DIR: wheels come from the same cache as make setup's
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def venv_python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        env=clean_env(dict(os.environ)),
        cwd=venv,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_agency_install_has_no_stream_processor_and_no_web_server(agency_venv: Path) -> None:
    got = venv_python(
        agency_venv,
        "import importlib.util, json\n"
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {SERVER_SIDE!r}}}))\n",
    )
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == dict.fromkeys(SERVER_SIDE, False)
    # What the SDK needs is there, and it is this install's copy, not the checkout's.
    got = venv_python(
        agency_venv,
        "import homeward_agency, kafka, fastavro, pydantic, httpx\n"
        "from homeward import paths\n"
        "print(homeward_agency.__file__); print(paths.schema_dir()); print(paths.topology_file())\n",
    )
    assert got.returncode == 0, got.stderr
    module, schemas, topology = got.stdout.split()
    for where in (module, schemas, topology):
        assert Path(where).is_relative_to(agency_venv), where
    assert Path(schemas).is_dir() and Path(topology).is_file()


def test_a_service_command_in_the_agency_install_names_the_extra(agency_venv: Path) -> None:
    homeward = str(agency_venv / "bin" / "homeward")
    env = clean_env(dict(os.environ))
    ok = subprocess.run([homeward, "agency", "--help"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("usage: homeward agency"), ok.stderr
    got = subprocess.run([homeward, "intake", "--help"], env=env, capture_output=True, text=True)
    assert got.returncode == 2
    assert "homeward intake: needs the services extra" in got.stderr, got.stderr
    assert "Traceback" not in got.stderr


@contextmanager
def installed_cli(venv: Path, bus: Bus, *args: str) -> Iterator[CliRun]:
    proc = subprocess.Popen(
        [str(venv / "bin" / "homeward"), "agency", *args],
        env=clean_env(bus.env("police")),  # the agency type's own principal
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=venv,
    )
    run = CliRun(proc)
    try:
        yield run
    finally:
        if proc.poll() is None:
            run.stop()


def test_the_installed_subscriber_receives_and_acknowledges_on_the_real_broker(
    agency_venv: Path, bus: Bus
) -> None:
    me = "PS-TEST-INSTALLED"
    inbox = bus.topology.inbox("police").name
    produce(bus, inbox, [s.encode(codec, s.delivery(me, i), me) for i in ("I-1", "I-2")])
    with installed_cli(
        agency_venv, bus, "--agency-id", me, "--agency-type", "police", "--json"
    ) as run:
        shown = [json.loads(line) for line in run.take(2)]
        got = acks(bus, 2)
        assert run.stop() == 0, run.stderr
    assert [o["delivery_id"] for o in shown] == ["I-1", "I-2"]
    assert shown[0]["data"]["event"]["child"]["name"] == "Test Child Alpha"
    by_id = {o["delivery_id"]: o for o in shown}
    assert sorted(d.event.delivery_id for _r, d in got) == ["I-1", "I-2"]
    for _record, decoded in got:
        ack = decoded.event
        assert isinstance(ack, AgencyAcknowledgement)
        assert ack.agency_id == me
        assert decoded.meta.causation_id == by_id[ack.delivery_id]["meta"]["id"]
    tp = TopicPartition(inbox, kafka.partition_for(me.encode(), bus.partitions))
    assert committed(bus, bus.prefix + group_id_for(me), tp, 2) == 2
