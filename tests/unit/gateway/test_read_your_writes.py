"""A lookup that misses reads the view to the topics' end before answering 404
(Gateway._found): the webhook dispatcher, an SDK subscriber or another replica
can tell an agency of a delivery before this instance's view has read it."""

from __future__ import annotations

import threading

import pytest

from homeward.agency_types import AgencyType
from homeward.auth import Principal
from homeward.auth.principal import PrincipalKind
from homeward.topology import current_topology
from homeward_gateway.service import Gateway, MemorySink, NotFound
from homeward_gateway.store import InboxStore
from tests.unit.gateway import samples as g

AGENCY = "HL-RYW-1"
CASEWORKER = Principal(
    subject="sub-ryw",
    name="staff-ryw",
    kind=PrincipalKind.PERSON,
    agency_id=AGENCY,
    agency_type=AgencyType.HEALTH,
    roles=frozenset({"agency_caseworker"}),
)


class CountingStore(InboxStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = threading.Semaphore(0)

    def get(self, agency_id: str, delivery_id: str):  # type: ignore[no-untyped-def]
        found = super().get(agency_id, delivery_id)
        self.lookups.release()
        return found


class LaggingView:
    """Stands in for the follower's sync: the delivery reaches the store only
    when the gateway asks the view to catch up (as the real follower would once
    it reads the record the broker already holds)."""

    def __init__(self, store: InboxStore, pending: list[object]) -> None:
        self.store, self.pending, self.calls = store, pending, 0
        self.release, self.began = threading.Event(), threading.Event()
        self.release.set()

    def sync(self, timeout: float) -> bool:
        self.calls += 1
        self.began.set()
        self.release.wait(timeout)
        while self.pending:
            self.store.add(self.pending.pop())  # type: ignore[arg-type]
        return True


def gateway_with(view_pending: list[object], seconds: float = 2.0) -> tuple[Gateway, LaggingView]:
    store = CountingStore()
    view = LaggingView(store, view_pending)
    gw = Gateway(
        store, MemorySink(), current_topology(), catch_up=view.sync, catch_up_seconds=seconds
    )
    return gw, view


def test_a_delivery_the_view_has_not_read_yet_is_found_after_one_catch_up() -> None:
    gw, view = gateway_with([g.alert(AGENCY, "DLV-RYW-1")])
    result = gw.acknowledge(CASEWORKER, "DLV-RYW-1")
    assert not result.repeated and view.calls == 1
    # Found at once now: no further catch-up.
    assert gw.get(CASEWORKER, "DLV-RYW-1").delivery_id == "DLV-RYW-1"
    assert view.calls == 1


def test_an_unknown_id_is_still_404_after_the_catch_up() -> None:
    gw, view = gateway_with([])
    with pytest.raises(NotFound) as refused:
        gw.get(CASEWORKER, "DLV-NONE")
    assert refused.value.field == "delivery_id"
    assert view.calls == 1


def test_another_agencys_delivery_stays_not_found() -> None:
    gw, _ = gateway_with([g.alert("HL-RYW-OTHER", "DLV-RYW-2")])
    with pytest.raises(NotFound):
        gw.get(CASEWORKER, "DLV-RYW-2")


def test_zero_seconds_turns_the_catch_up_off() -> None:
    gw, view = gateway_with([g.alert(AGENCY, "DLV-RYW-3")], seconds=0)
    with pytest.raises(NotFound):
        gw.get(CASEWORKER, "DLV-RYW-3")
    assert view.calls == 0


def test_a_flood_of_misses_shares_catch_ups_instead_of_one_each() -> None:
    gw, view = gateway_with([])
    view.release.clear()  # the first catch-up is slow; 20 more misses queue behind it
    errors: list[BaseException] = []

    def miss() -> None:
        try:
            gw.get(CASEWORKER, "DLV-NONE")
        except NotFound:
            pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=miss)
    first.start()
    assert view.began.wait(10)  # the first has begun its catch-up
    rest = [threading.Thread(target=miss) for _ in range(20)]
    for t in rest:
        t.start()
    for _ in range(1 + len(rest)):  # every caller has asked (its time is taken first)
        assert gw.store.lookups.acquire(timeout=10)  # type: ignore[attr-defined]
    view.release.set()
    for t in [first, *rest]:
        t.join(10)
    assert not errors
    # The first caller's, then one shared by everyone who asked during it.
    assert view.calls == 2
