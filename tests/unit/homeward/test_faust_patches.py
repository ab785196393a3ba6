"""homeward.faust_patches is installed for the Faust it was written against, and only that one
(the recovery race itself is tests/integration/test_faust_recovery.py)."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from homeward import faust_patches
from homeward.faust_app import make_app
from homeward.settings import KafkaSettings
from homeward.topology import current_topology


def test_the_installed_faust_is_the_one_the_patches_were_written_for() -> None:
    # An upgrade past 0.15 fails here: read on_recovery_completed again first.
    assert faust_patches.applies_to(faust.__version__)


@pytest.mark.parametrize("version", ["0.16.0", "0.14.9", "1.15.0", "0", ""])
def test_other_versions_are_not_patched(version: str) -> None:
    assert not faust_patches.applies_to(version)


def test_make_app_installs_the_patches_once() -> None:
    make_app("patches-unit", KafkaSettings(), current_topology().get("rescues"))
    assert faust_patches.apply()
    assert Recovery.on_recovery_completed is faust_patches._on_recovery_completed
    assert AIOKafkaConsumerThread._fetch_records is faust_patches._fetch_records
    assert faust_patches._original_fetch_records is not faust_patches._fetch_records


def test_make_app_refuses_a_faust_the_patches_do_not_cover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(RuntimeError, match=r"0\.16\.0"):
        make_app("patches-unit", KafkaSettings(), current_topology().get("rescues"))


def test_a_fetch_with_no_active_partition_reads_nothing() -> None:
    # aiokafka's fetched_records reads an empty partition set as "all of them".
    got = asyncio.run(faust_patches._fetch_records(None, None, set(), timeout=1.0))
    assert got == {}
