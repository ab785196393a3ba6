"""The main job end to end: `python -m homeward_demo` against the test broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from homeward.agencies import AgencyType
from homeward.topology.users import password_env_name
from homeward_demo.reach import GATEWAY, SDK, WEBHOOK
from tests.fixtures.idp import Idp
from tests.fixtures.kafka import KafkaAccess

pytestmark = pytest.mark.integration
WAYS = (SDK, WEBHOOK, GATEWAY)


def _kafka_env(access: KafkaAccess) -> dict[str, str]:
    """The admin's credentials and the session's principal passwords: the demo creates the
    principals with these, so the other tests' clients keep theirs."""
    return {
        **access.admin_env(),
        **{password_env_name(name): pw for name, pw in access.passwords.items()},
    }


def test_demo_plays_the_case_and_summarises_it(
    kafka_access: KafkaAccess, idp: Idp, tmp_path: Path
) -> None:
    # The session's Keycloak serves the same realm file, so the demo uses it (as it
    # would a site's provider) instead of starting its own: on a loaded machine a
    # second Keycloak took 136 s to start, most of the demo's time limit. The demo's
    # own Keycloak is started, and stopped at Ctrl-C, by the test below.
    run = subprocess.run(
        # A wider resend window than the demo's 3 s: on a loaded machine (the tests run
        # side by side) 197 acknowledgements can take longer than 2 x 3 s, and every late
        # one is rightly escalated; the two silent agencies still are, 2 x 8 s later.
        [sys.executable, "-m", "homeward_demo", "--run-dir", str(tmp_path), "--ack-timeout", "8"],
        env={
            **os.environ,
            **_kafka_env(kafka_access),
            "HOMEWARD_TOPIC_PREFIX": "",
            "HOMEWARD_OIDC_ISSUER": idp.issuer,
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "=== Homeward demo: summary ===" in run.stdout
    figures = json.loads((tmp_path / "summary.json").read_text())
    # The synthetic directory has 199 agencies within 500 km of the case.
    assert figures["agencies_reached"] == 199
    assert figures["per_ring_km"] == {"100": 84, "200": 37, "300": 34, "500": 44}
    assert len(figures["escalated"]) == 2
    assert figures["alert_deliveries_acknowledged"] == 197
    # Media and online platforms (12 in range) get public notices instead of
    # the alert and its cancellation: an active one and a closed one each, and
    # a "widened" one for each wider ring after the one that reached them (22).
    assert figures["deliveries_by_kind"]["cancellation"] == 199 - 12
    assert figures["deliveries_by_kind"]["public_notice"] == 2 * 12 + 22
    assert figures["fanout_latency_ms"]["p99"] is not None
    # Act two: the found child (4 referrals) and a child with no known
    # guardians (8); one placement rejected and re-offered, one legal aid
    # left unanswered past its (demo-short) deadline.
    assert figures["referrals"] == 12
    assert figures["referrals_by_state"] == {"completed": 11, "requested": 1}
    assert [r.split(" ")[0] for r in figures["reoffered"]] == ["welfare_placement"]
    assert [o.split(" ")[0] for o in figures["overdue"]] == ["legal_aid"]
    assert figures["time_to_first_answer_s"]["answered"] == 11
    # Two mandatory reports: police take up the teacher's; the hotel's is not
    # acknowledged in the demo's time and the coordination office hears.
    assert list(figures["reports_acknowledged_s"]) == ["RPT-DEMO-0001"]
    assert figures["reports_overdue"] == ["RPT-DEMO-0002"]
    # Act three: two fictional hospitals record 12 consistent births (4 records
    # each) and 5 planted anomalies (16 records); the detector raises each
    # planted one and nothing about the consistent births.
    assert figures["health_records_published"] == 12 * 4 + 16
    assert figures["planted_found"] == figures["planted"]
    assert len(figures["planted"]) == 5
    assert set(figures["planted"]) <= set(figures["anomalies_by_rule"])
    assert figures["false_alarms"] == 0
    assert "planted found 5/5; false alarms: 0" in run.stdout
    # How agencies received: every agency type through at least one way, and each
    # way (the SDK on the inbox topics, signed webhooks, the gateway's live stream)
    # carried deliveries to some agency.
    ways = figures["channels"]
    assert ways["agency_types_without_a_way"] == []
    covered = set().union(*(set(ways[w]["agency_types_reached"]) for w in WAYS))
    assert covered == {t.value for t in AgencyType}
    for way in WAYS:
        assert ways[way]["agencies"] > 0, way
        assert ways[way]["agencies_reached"] > 0, (way, ways[way])
    for way in (WEBHOOK, GATEWAY):  # counted by the demo's agencies on those ways
        assert sum(ways[way]["deliveries_by_kind"].values()) > 0, (way, ways[way])
        assert ways[way]["latency_ms"]["samples"] > 0, (way, ways[way])
    assert "NOT REACHED by any way" not in run.stdout


def _processes_with(marker: bytes) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue  # gone, or not ours to read
    return found


def test_ctrl_c_mid_case_stops_every_service(kafka_access: KafkaAccess, tmp_path: Path) -> None:
    prefix = f"demo-int-{os.getpid()}-{tmp_path.name}."
    demo = subprocess.Popen(
        [sys.executable, "-m", "homeward_demo", "--run-dir", str(tmp_path)],
        env={
            **os.environ,
            **_kafka_env(kafka_access),
            "HOMEWARD_TOPIC_PREFIX": prefix,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A shell's background jobs ignore SIGINT; give the demo the terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert demo.stdout is not None
    try:
        for raw in demo.stdout:
            if b"alert POL-0001-DEMO-0001 issued" in raw:
                # The demo itself, intake, the fan-out, the referral router and the detector.
                assert len(_processes_with(prefix.encode())) >= 5
                demo.send_signal(signal.SIGINT)
                break
        out = demo.communicate(timeout=90)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130
    assert b"interrupted: stopping every service" in out
    assert _processes_with(prefix.encode()) == []
