"""`python -m homeward_referrals` says plainly what is wrong with its settings,
rules or directory, instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from homeward.agencies import dump_directory
from tests.unit.referrals.world import AGENCIES


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOMEWARD_REFERRALS_")}
    return subprocess.run(
        [sys.executable, "-m", "homeward_referrals"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


@pytest.fixture
def directory(tmp_path: Path) -> str:
    path = tmp_path / "agencies.csv"
    dump_directory(list(AGENCIES), path)
    return str(path)


def test_a_missing_directory_setting_is_named(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 2
    assert "HOMEWARD_REFERRALS_DIRECTORY: Field required" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"HOMEWARD_REFERRALS_DEADLINES": "legal_aid=soon/P1D"}, "HOMEWARD_REFERRALS_DEADLINES"),
        ({"HOMEWARD_REFERRALS_DEADLINES": "nobody=PT1H/"}, "no rule with id nobody"),
        ({"HOMEWARD_REFERRALS_REPORT_ACK_WITHIN": "an hour"}, "REPORT_ACK_WITHIN"),
        ({"HOMEWARD_REFERRALS_MAX_KM": "0"}, "HOMEWARD_REFERRALS_MAX_KM"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, directory: str, env: dict[str, str], words: str
) -> None:
    done = run(tmp_path, HOMEWARD_REFERRALS_DIRECTORY=directory, **env)
    assert done.returncode == 2 and words in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_rules_file_names_the_row_and_field(tmp_path: Path, directory: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {id: x, service: S, to: wizards, answer: P1D, complete: P2D, cites: C}\n"
    )
    done = run(
        tmp_path, HOMEWARD_REFERRALS_DIRECTORY=directory, HOMEWARD_REFERRALS_RULES=str(rules)
    )
    assert done.returncode == 2
    assert "rules[0].to: rule 'x': unknown agency type 'wizards'" in done.stderr


def test_a_bad_directory_row_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "agencies.csv"
    bad.write_text(
        "id,type,name_zh,name_en,latitude,longitude,admin_code,delivery_mode\n"
        "X-1,wizards,测试,Test,30,104,990000,inbox\n"
    )
    done = run(tmp_path, HOMEWARD_REFERRALS_DIRECTORY=str(bad))
    assert done.returncode == 2 and "line 2" in done.stderr and "type" in done.stderr
