"""The `homeward` command's dispatch and the Faust workers' argument handling; what
the agency SDK imports is all in the base install (no Faust, no web server)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from homeward.cli import BY_NAME, PROGRAMS, SERVICE_ONLY, prog_name
from homeward.worker_cli import DEFAULT_WORKER, worker_argv

SERVER_SIDE = ("faust", "mode", "aiokafka", "fastapi", "starlette", "uvicorn")


def test_every_program_names_an_importable_module_path() -> None:
    assert [p.name for p in PROGRAMS] == list(BY_NAME)
    for program in PROGRAMS:
        module, _, function = program.target.partition(":")
        assert module and function == "main", program
        assert program.extra in {"agency", "services"}


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


# None in sys.modules makes `import faust` raise ModuleNotFoundError, as in an
# agency's venv where it was never installed.
_BLOCK = f"import sys\nfor m in {SERVER_SIDE!r}: sys.modules[m] = None\n"


def test_the_agency_and_hospital_sdks_and_the_cli_import_nothing_server_side() -> None:
    got = _run_python(
        _BLOCK
        + "import homeward_agency, homeward_agency.cli, homeward_agency.fleet, homeward_health\n"
        + "import homeward_timeline.cli, homeward.cli, homeward.topology.__main__\n"
        + "from homeward.cli import main\n"
        + "sys.exit(main(['agency', '--help']))\n"
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("usage: homeward agency"), got.stdout


@pytest.mark.parametrize("command", ["intake", "fanout", "audit"])
def test_a_service_without_its_extra_says_which_extra_brings_it(command: str) -> None:
    blocked = {"intake": "fastapi", "fanout": "faust", "audit": "cryptography"}[command]
    got = _run_python(
        f"import sys\nsys.modules[{blocked!r}] = None\n"
        "from homeward.cli import main\n"
        f"sys.exit(main([{command!r}, 'worker' if {command!r} == 'fanout' else 'run']))\n"
    )
    assert got.returncode == 2, got.stderr
    assert f"homeward {command}: needs the services extra" in got.stderr, got.stderr
    assert "pip install 'homeward[services]'" in got.stderr
    assert "Traceback" not in got.stderr
    assert blocked in SERVICE_ONLY


def test_a_faust_worker_with_no_arguments_is_a_worker_as_before() -> None:
    assert worker_argv("x", None, []) == list(DEFAULT_WORKER)


def test_a_faust_worker_passes_faust_options_through_untouched() -> None:
    argv = ["worker", "-l", "debug", "--web-port", "6067"]
    assert worker_argv("x", None, argv) == argv


@pytest.mark.parametrize("flag", ["--help", "-h", "--version"])
def test_a_faust_worker_answers_help_and_version_itself(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        worker_argv("python -m homeward_fanout", "the fan-out", [flag])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m homeward_fanout") or out.startswith("homeward ")


def test_the_usage_name_follows_how_a_program_was_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["homeward intake", "--help"])
    assert prog_name("python -m homeward_intake") == "homeward intake"
    monkeypatch.setattr(sys, "argv", ["/x/homeward_intake/__main__.py"])
    assert prog_name("python -m homeward_intake") == "python -m homeward_intake"
