"""The fault suite's short version (issue 12): one leader kill, one SIGKILL of each
service, a 1% poison storm, on its own 3-broker cluster (SCRAM, replication 3, min
ISR 2), with the services as their own processes. `make chaos` runs it whole; the
method and the latest table are in docs/faults.md."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaos.scenarios import HEADER, Row, Settings, line, run
from chaos.stack import Stack
from tests.fixtures.idp import Idp

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[dict[str, Row]]:
    system = Stack(tmp_path_factory.mktemp("chaos"), idp.issuer)
    try:
        system.start()
        out = run(system, Settings(), None)
    finally:
        system.stop()
    print(HEADER)
    for row in out:
        print(line(row), "; ".join(row.notes))
    yield {r.scenario: r for r in out}


@pytest.mark.parametrize(
    "scenario",
    [
        "leader SIGKILL x1",
        "fanout SIGKILL + restart",
        "detector SIGKILL + restart",
        "intake SIGKILL + restart",
        "subscriber SIGKILL + restart",
        "poison storm 1 in 21",
    ],
)
def test_scenario_meets_kafkas_pass_rules(rows: dict[str, Row], scenario: str) -> None:
    row = rows[scenario]
    assert row.accepted > 0 and row.delivered > 0
    assert (row.lost, row.duplicates, row.recovered) == (0, 0, True), row.notes


# Once an xfail: the restarted worker dropped records it fetched while recovering
# (docs/delivery-guarantees.md, "Faust after a kill"; homeward.faust_patches).
def test_a_killed_referral_router_loses_no_rescue(rows: dict[str, Row]) -> None:
    row = rows["referrals SIGKILL + restart"]
    assert row.accepted > 0
    assert (row.lost, row.duplicates, row.recovered) == (0, 0, True), row.notes
