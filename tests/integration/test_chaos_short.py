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

# One cluster and one run for every row: the module fixture takes minutes, not a test.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[dict[str, Row]]:
    system = Stack(tmp_path_factory.mktemp("chaos"), idp.issuer)
    try:
        system.start()
        out = run(system, Settings(alerts=40, births=12, poison_every=13), None)
    finally:
        system.stop()
    print(HEADER)
    for row in out:
        print(line(row), "; ".join(row.notes))
    yield {r.scenario: r for r in out}


# Known defect (docs/faults.md): a Faust worker SIGKILLed mid-burst, once restarted, can
# skip a record that was on its input (the fan-out committed past one alert it never
# delivered; the router left rescues unprocessed). Not strict: most runs pass.
FAUST_KILL_DEFECT = pytest.mark.xfail(
    reason="known defect (docs/faults.md): a restarted Faust worker can skip an input record",
    strict=False,
)


@pytest.mark.parametrize(
    "scenario",
    [
        "leader SIGKILL x1",
        pytest.param("fanout SIGKILL + restart", marks=FAUST_KILL_DEFECT),
        "detector SIGKILL + restart",
        "intake SIGKILL + restart",
        "subscriber SIGKILL + restart",
        "poison storm 1 in 14",
    ],
)
def test_scenario_meets_kafkas_pass_rules(rows: dict[str, Row], scenario: str) -> None:
    row = rows[scenario]
    assert row.accepted > 0 and row.delivered > 0
    assert (row.lost, row.duplicates, row.recovered) == (0, 0, True), row.notes


@FAUST_KILL_DEFECT
def test_a_killed_referral_router_loses_no_rescue(rows: dict[str, Row]) -> None:
    row = rows["referrals SIGKILL + restart"]
    assert row.accepted > 0
    assert (row.lost, row.duplicates, row.recovered) == (0, 0, True), row.notes
