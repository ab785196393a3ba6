"""`homeward <command> --help` and `--version`, for every command and subcommand,
as the installed console script: each exits 0 with a usage line (or the
version), and starts nothing: no server, no broker, no child left behind.

No broker is needed: Kafka points at a port nothing listens on, so a command that
tried to start would fail or hang (the timeout) instead of passing."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeward import paths
from homeward.cli import PROGRAMS

HOMEWARD = Path(sys.executable).with_name("homeward")  # the console script pip installed
GATEWAY_INSTALLED = importlib.util.find_spec("homeward_gateway") is not None
# Sub-subcommands with their own parsers.
NESTED = [
    ("audit", "run"),
    ("audit", "verify"),
    ("audit", "keygen"),
    ("broker", "start"),
    ("broker", "fetch"),
    ("idp", "fetch"),
    ("idp", "start"),
    ("idp", "realm"),
    ("fanout", "worker"),  # Faust's own worker help: imports the app, starts nothing
    ("webhooks", "run"),  # the dispatcher alone: its help connects to nothing
    ("webhooks", "replay"),
]
# The gateway's programs (the gateway, its webhook dispatcher) where it is installed.
IN_GATEWAY = frozenset(p.name for p in PROGRAMS if p.module.startswith("homeward_gateway"))
COMMANDS: list[tuple[str, ...]] = [
    (),
    *[(p.name,) for p in PROGRAMS if p.name not in IN_GATEWAY or GATEWAY_INSTALLED],
    *[c for c in NESTED if c[0] not in IN_GATEWAY or GATEWAY_INSTALLED],
]
VERSIONED = [c for c in COMMANDS if len(c) <= 1]  # subcommands take no --version of their own
# What a started program prints at the start of a line (help text only quotes it).
STARTED = re.compile(r"^([A-Z]+_(READY|LISTENING) |BOOTSTRAP=|ISSUER=)|Uvicorn running", re.M)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    leftover: bool  # something of its process group still alive after it exited


def run(*args: str) -> Run:
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",  # the discard port: nothing answers
        HOMEWARD_INTAKE_PORT="0",
        HOMEWARD_OIDC_ISSUER="http://127.0.0.1:9/realms/none",
        # Faust's own `worker --help` loads the app, which needs its directory.
        HOMEWARD_FANOUT_DIRECTORY=str(paths.demo_directory_file()),
    )
    proc = subprocess.Popen(
        [str(HOMEWARD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, to look for children after
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    try:
        os.killpg(proc.pid, 0)  # the group of a session leader has its pid as id
        leftover = True
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        leftover = False
    return Run(proc.returncode, out, err, leftover)


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, ...], Run]:
    assert HOMEWARD.exists(), f"{HOMEWARD}: the console script is missing (make setup)"
    todo = [(*c, "--help") for c in COMMANDS] + [(*c, "--version") for c in VERSIONED]
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(todo, pool.map(lambda a: run(*a), todo), strict=True))


def _name(command: tuple[str, ...]) -> str:
    return " ".join(("homeward", *command))


@pytest.mark.parametrize("command", COMMANDS, ids=_name)
def test_help_prints_usage_and_exits_0_starting_nothing(
    runs: dict[tuple[str, ...], Run], command: tuple[str, ...]
) -> None:
    got = runs[(*command, "--help")]
    assert got.code == 0, got.err
    first = got.out.lstrip().splitlines()[0]
    assert first.lower().startswith("usage:"), got.out
    if command and command[-1] != "worker":  # Faust names the worker its own way
        assert _name(command) in first, first
    assert not STARTED.search(got.out + got.err), got.out + got.err
    assert not got.leftover


@pytest.mark.parametrize("command", VERSIONED, ids=_name)
def test_version_prints_the_distribution_version(
    runs: dict[tuple[str, ...], Run], command: tuple[str, ...]
) -> None:
    got = runs[(*command, "--version")]
    assert got.code == 0, got.err
    assert got.out.strip() == f"homeward {importlib.metadata.version('homeward')}"
    assert not got.leftover


@pytest.mark.skipif(not GATEWAY_INSTALLED, reason="the gateway is not installed")
def test_the_webhook_dispatcher_is_listed_and_refuses_an_unknown_subcommand(
    runs: dict[tuple[str, ...], Run],
) -> None:
    assert re.search(r"^  webhooks +\S", runs[("--help",)].out, re.M), runs[("--help",)].out
    got = run("webhooks", "rerun")
    assert got.code == 2
    assert got.err.startswith("usage: homeward webhooks"), got.err
    assert "invalid choice: 'rerun'" in got.err and "'replay'" in got.err
    assert not got.leftover


@pytest.mark.skipif(GATEWAY_INSTALLED, reason="the gateway is installed: tested above")
@pytest.mark.parametrize("command", ["gateway", "webhooks"])
def test_the_gateway_says_plainly_it_is_not_installed_yet(command: str) -> None:
    got = run(command, "--help")
    assert got.code == 2
    assert f"homeward {command}: homeward_gateway is not part of this installation" in got.err
    assert "Traceback" not in got.err


def test_an_unknown_command_is_refused_with_the_list() -> None:
    got = run("intak")
    assert got.code == 2
    assert "invalid choice: 'intak'" in got.err and "'intake'" in got.err
