"""Every window and threshold is a setting; `python -m homeward_detector`
names a bad one instead of printing a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from homeward_detector.settings import DetectorSettings


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HOMEWARD_DETECTOR_"):
            monkeypatch.delenv(name)


def test_the_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    w = DetectorSettings().windows()
    assert w.certificate == timedelta(days=30) and w.lateness == timedelta(hours=6)
    assert w.overlap_tolerance == timedelta(0) and not w.uncertified_enabled
    assert w.uncertified_after == timedelta(days=3)


def test_windows_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("HOMEWARD_DETECTOR_CERTIFICATE_WINDOW", "P7D")
    monkeypatch.setenv("HOMEWARD_DETECTOR_LATENESS", "PT0S")
    monkeypatch.setenv("HOMEWARD_DETECTOR_UNCERTIFIED_DISCHARGE_ENABLED", "true")
    monkeypatch.setenv("HOMEWARD_DETECTOR_UNCERTIFIED_AFTER", "P1DT12H")
    w = DetectorSettings().windows()
    assert w.certificate == timedelta(days=7) and w.lateness == timedelta(0)
    assert w.uncertified_enabled and w.uncertified_after == timedelta(days=1, hours=12)


@pytest.mark.parametrize("name", ["CERTIFICATE_WINDOW", "MAX_STAY", "UNCERTIFIED_AFTER"])
def test_a_window_must_be_a_positive_duration(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    clean_env(monkeypatch)
    for bad in ("PT0S", "a month", "P1M"):
        monkeypatch.setenv(f"HOMEWARD_DETECTOR_{name}", bad)
        with pytest.raises(ValidationError):
            DetectorSettings()


def test_the_worker_names_a_bad_setting(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOMEWARD_DETECTOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "homeward_detector"],
        env={**clean, "HOMEWARD_DETECTOR_LATENESS": "six hours"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "HOMEWARD_DETECTOR_LATENESS" in done.stderr and "Traceback" not in done.stderr
