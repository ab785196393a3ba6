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
    # Without the gateway: its row and its webhooks are the full run's (CI time is tight).
    system = Stack(tmp_path_factory.mktemp("chaos"), idp.issuer, gateway=False)
    try:
        system.start()
        out = run(system, Settings(alerts=40, births=12, poison_every=13), None)
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
        "poison storm 1 in 14",
        "referrals SIGKILL + restart",
    ],
)
def test_scenario_meets_kafkas_pass_rules(rows: dict[str, Row], scenario: str) -> None:
    row = rows[scenario]
    assert row.accepted > 0 and row.delivered > 0
    assert (row.lost, row.duplicates, row.recovered) == (0, 0, True), row.notes
