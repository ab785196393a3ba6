"""The synthetic case the demo plays, step by step, through intake's client.

Every name, id and place is plainly fake. Each step waits (with a deadline)
for what the bus should do, printing live progress while it waits.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from homeward.agencies import Agency
from homeward.events import (
    AlertUpdated,
    ChildDescription,
    Event,
    Location,
    ResponsibleOfficer,
    Sector,
    SightingReported,
    TaskStatus,
)
from homeward.events.base import utcnow
from homeward.projections import default_projections
from homeward_demo import reports, rescue
from homeward_demo.monitor import Monitor, Observed
from homeward_fanout.rules import RadiusSchedule, agencies_in_ring
from homeward_intake.client import IntakeClient
from homeward_referrals.rules import RuleSet, load_rules

CENTRE = Location(
    latitude=30.0,
    longitude=104.0,
    description="Sampleville Central Park (fictional)",
    admin_code="990101",
)
CASE_ID = rescue.FOUND_CASE
LAST_SEEN_MINUTES_AGO = 40


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    marks: dict[str, str] = field(default_factory=dict)  # step -> event id

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)


class Scenario:
    def __init__(
        self,
        client: IntakeClient,
        monitor: Monitor,
        agencies: list[Agency],
        schedule: RadiusSchedule,
        step_timeout: float = 60,
        rules: RuleSet | None = None,
        desk: reports.PoliceDesk | None = None,
        reporters: Mapping[Sector, reports.Filer] | None = None,
    ) -> None:
        """`client` is the police system's (it issues, updates, reports rescues); `reporters`
        the persons who file each sector's mandatory reports (else `client` files them)."""
        self.client = client
        self.reporters = dict(reporters or {})
        self.monitor = monitor
        self.agencies = agencies
        self.schedule = schedule
        self.timeout = step_timeout
        self.rules = rules or load_rules(deadlines=rescue.DEMO_DEADLINES)
        self.desk = desk
        self.t = Timeline()

    def expected(self, radius_km: int) -> set[str]:
        ring = agencies_in_ring(self.agencies, CENTRE.latitude, CENTRE.longitude, -1, radius_km)
        return {r.agency.id for r in ring}

    def wait(
        self, what: str, done: Callable[[Observed], bool], status: Callable[[Observed], str]
    ) -> None:
        deadline = time.monotonic() + self.timeout
        last = ""
        while True:
            obs = self.monitor.snapshot()
            line = status(obs)
            if line != last:
                self.t.say(line)
                last = line
            if done(obs):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo step timed out: {what} ({line})")
            time.sleep(0.25)  # a progress display's refresh rate, not a synchronisation

    def _ring_status(self, alert_id: str, radius: int) -> Callable[[Observed], str]:
        want = self.expected(radius)

        def status(o: Observed) -> str:
            got = o.reached(alert_id) & want
            acked = sum(
                1
                for did, s in o.deliveries.items()
                if s.source_event_id == alert_id and did in o.acked
            )
            return (
                f"ring {radius:>3} km: {len(got)}/{len(want)} agencies reached, "
                f"{acked} acknowledged, {o.resends} resent, "
                f"{len({e.agency_id for e in o.escalations})} escalated"
            )

        return status

    def reach(self, alert_id: str, radius: int) -> None:
        want = self.expected(radius)
        self.wait(
            f"ring {radius} km",
            lambda o: want <= o.reached(alert_id),
            self._ring_status(alert_id, radius),
        )

    def audience(self, alert_id: str, kind: type[Event]) -> set[str]:
        """The agencies that had the alert and whose role may receive `kind`
        (topology/projections.yaml: public channels get only public notices)."""
        allowed = default_projections().allowed
        return {
            s.agency_id
            for s in self.monitor.snapshot().deliveries.values()
            if s.source_event_id == alert_id
            and kind.avro_name.rsplit(".", 1)[-1] in allowed("AlertDelivery.event", s.agency_type)
        }

    def all_told(self, event_id: str, what: str, recipients: set[str]) -> None:
        self.wait(
            what,
            lambda o: recipients <= o.reached(event_id),
            lambda o: (
                f"{what}: {len(o.reached(event_id) & recipients)}/{len(recipients)} agencies told"
            ),
        )

    def play(self, silent: set[str]) -> dict[str, str]:
        t = self.t
        last_seen_at = utcnow() - timedelta(minutes=LAST_SEEN_MINUTES_AGO)
        a = self.client.issue_alert(
            case_id=CASE_ID,
            issuing_unit="Sampleville County Police Bureau (fictional)",
            chief_officer=ResponsibleOfficer(
                officer_id="OFFICER-0007",
                name="Officer Example Li",
                unit="Sampleville County Police Bureau (fictional)",
            ),
            child=ChildDescription(
                name="Test Child A",
                sex="female",
                age_years=6,
                height_cm=115,
                clothing="red coat, blue trainers",
                distinguishing_marks="small scar above left eyebrow (fictional)",
            ),
            last_seen=CENTRE,
            last_seen_at=last_seen_at,
            public_summary="MISSING (demo): girl, 6, 115 cm, red coat, last seen in Sampleville Central Park.",
            details="Synthetic demo case. Last seen with an unknown adult near the east gate.",
        )
        if a.case_id != CASE_ID:
            raise RuntimeError(f"case_id: intake answered {a.case_id!r}, not {CASE_ID!r}")
        t.marks["alert"] = a.event_id
        t.say(
            f"alert {CASE_ID} issued: last seen {LAST_SEEN_MINUTES_AGO} min ago; event {a.event_id[:8]}"
        )
        rings = [km for _, km in self.schedule.steps] + [self.schedule.beyond_km]
        self.reach(a.event_id, rings[0])

        s = self.client.report_sighting(
            CASE_ID,
            sighting_id="TIP-0001",
            location=Location(
                latitude=30.21, longitude=104.33, description="Testtown coach station (fictional)"
            ),
            seen_at=utcnow(),
            reporter_kind="public",
            description="A girl in a red coat boarding the coach to Demoville with an adult.",
        )
        t.marks["sighting"] = s.event_id
        self.all_told(s.event_id, "sighting", self.audience(a.event_id, SightingReported))

        self.reach(a.event_id, rings[1])
        u = self.client.update_alert(
            CASE_ID,
            new_information="Photo added; the adult wore a grey cap.",
            photo_ref="urn:demo:photo:0001",
        )
        t.marks["update"] = u.event_id
        # No public summary in this update: media and online platforms are not told.
        self.all_told(u.event_id, "update", self.audience(a.event_id, AlertUpdated))
        for km in rings[2:]:
            self.reach(a.event_id, km)

        reached_silent = silent & self.monitor.snapshot().reached(a.event_id)
        if reached_silent:
            self.wait(
                "escalation",
                lambda o: {e.agency_id for e in o.escalations} >= reached_silent,
                lambda o: (
                    f"waiting for the coordination office to hear of "
                    f"{len(reached_silent)} unacknowledged agencies: "
                    f"{len({e.agency_id for e in o.escalations})} escalated"
                ),
            )

        self.rescue(a.event_id)
        return t.marks

    # -- act two: rescue and referrals ------------------------------------------
    def rescue(self, alert_id: str) -> None:
        """The child is found: police report the rescue, which closes the alert as
        FOUND through the router; a second child is rescued with her; agencies
        answer their referrals."""
        t = self.t
        for report in reports.reports():
            filer = self.reporters.get(report["sector"])  # type: ignore[call-overload]
            client = filer.client if filer else self.client
            filed = client.file_report(**report)
            by = f" by the staff of {filer.agency.id}" if filer else ""
            t.say(f"mandatory report {filed.report_id} ({report['sector']}) filed with police{by}")
        found = rescue.found_child()
        r = self.client.notify_rescue(**found)
        t.marks["rescue"] = r.event_id
        t.say(f"rescue of the child reported (closes alert {CASE_ID}); event {r.event_id[:8]}")
        self.wait(
            "the alert closed as found",
            lambda o: CASE_ID in o.cancellations,
            lambda o: "waiting for the router to close the alert as found",
        )
        cancel_id = self.monitor.snapshot().cancellations[CASE_ID]
        t.marks["cancellation"] = cancel_id
        self.all_told(cancel_id, "cancellation (found)", self.monitor.snapshot().reached(alert_id))
        second = rescue.unknown_child()
        r2 = self.client.notify_rescue(**second)
        t.marks["rescue_unknown"] = r2.event_id
        t.say(f"rescue of a second child with no known guardians reported; event {r2.event_id[:8]}")
        expected = {
            (doc["case_id"], rule.id)
            for doc in (found, second)
            for rule in self.rules.at_rescue(doc["person"])  # type: ignore[arg-type]
        }
        self.wait("referrals", lambda o: self._referrals_done(o, expected), self._referral_status)

    def _referrals_done(self, o: Observed, expected: set[tuple[str, str]]) -> bool:
        seen = {(r.case_id, r.rule_id): r for r in o.referrals.values()}
        if not expected <= seen.keys():
            return False
        overdue = any((x.case_id, x.rule_id) == rescue.SILENT_RULE for x in o.overdue)
        others_done = all(
            r.status == TaskStatus.COMPLETED for k, r in seen.items() if k != rescue.SILENT_RULE
        )
        filed = {str(r["report_id"]) for r in reports.reports()}
        # Every report is either taken up by police or reported overdue.
        reported = filed <= self.acknowledged() | o.reports_overdue.keys()
        return overdue and others_done and seen[rescue.REJECTED_RULE].offers > 1 and reported

    def _referral_status(self, o: Observed) -> str:
        states = Counter(r.status.value for r in o.referrals.values())
        reoffered = sum(1 for r in o.referrals.values() if r.offers > 1)
        return (
            f"referrals: {len(o.referrals)} made; "
            + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
            + f"; {reoffered} re-offered; {len(o.overdue)} overdue"
            + f"; reports: {len(self.acknowledged())} acknowledged, {len(o.reports_overdue)} overdue"
        )

    def acknowledged(self) -> set[str]:
        return set(self.desk.stats.acknowledged) if self.desk else set()
