"""The flows test_data_law.py runs, with canary values in everything the law
keeps on police.* topics, and a whole-slice view of the broker to judge them.

DNA_CANARY goes into DNA sample ids and profiles, a police answer's note and a
DNA comparison; POLICE_CANARY into police's rescue notes and a mandatory
report's reporter, observation and person.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from homeward import paths
from homeward.actors import agency_actor
from homeward.agencies import Agency, AgencyType, load_directory
from homeward.codec import Codec
from homeward.events import (
    AdmissionRegistered,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    Baby,
    BirthCertificateIssued,
    ChildDescription,
    ClockTick,
    DeliveryRecorded,
    DnaSample,
    Event,
    HealthAnomalyDetected,
    HouseholdRegistration,
    IdentityCheck,
    Location,
    PersonIdentity,
    PublicNotice,
    ReferralAnswered,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReferralStatusChanged,
    ReportOverdue,
    RescuedPerson,
    RescueNotified,
    ResponsibleOfficer,
    TaskStatus,
)
from homeward.events.base import utcnow
from homeward.kafka import producer, send_all
from homeward_intake.client import IntakeClient
from homeward_referrals.rules import load_rules
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader
from tests.unit.fanout.geo import CENTRE, agency_at

DNA_CANARY = f"DNA-CANARY-{uuid.uuid4().hex}"
POLICE_CANARY = f"POLICE-CANARY-{uuid.uuid4().hex}"
CANARIES = (DNA_CANARY.encode(), POLICE_CANARY.encode())
CASE, YOUTH_CASE = "POL-0001-DL-1", "POL-0001-DL-2"  # police case system's namespace
FANOUT_INPUTS = ["alert_events", "alert_acks"]
ROUTER_INPUTS = [
    "rescues",
    "referral_answers",
    "police_referrals",
    "referral_ticks",
    "reports",
    "police_tips",
]
DETECTOR_INPUTS = ["health_records", "health_index", "health_ticks"]
# (topic, "partition:offset", key, value, headers)
Raw = tuple[str, str, bytes | None, bytes | None, list[tuple[str, bytes]]]

# One agency of every type inside the first ring and the router's reach, and a
# second civil-affairs agency, so a rejected placement is offered again.
_PLACED = [agency_at(i, 10 + 3 * i, bearing=i * 22.5, type_=t) for i, t in enumerate(AgencyType)]
_PLACED.append(agency_at(99, 80, bearing=200.0, type_=AgencyType.CIVIL_AFFAIRS))


def realm_ids(placed: list[Agency]) -> list[Agency]:
    """The same places under the demo directory's ids of each type, so each agency
    logs in as its own system of the realm (agency-system-<id>)."""
    by_type: dict[AgencyType, list[str]] = {}
    for a in load_directory(paths.demo_directory_file()):
        by_type.setdefault(a.type, []).append(a.id)
    taken: dict[AgencyType, int] = {}
    out = []
    for a in placed:
        n = taken[a.type] = taken.get(a.type, -1) + 1
        out.append(a.model_copy(update={"id": by_type[a.type][n]}))
    return out


AGENCIES = realm_ids(_PLACED)
FIRST = {t: next(a.id for a in AGENCIES if a.type == t) for t in AgencyType}
PLACE = Location(latitude=CENTRE[0], longitude=CENTRE[1], description="Fictional Park")
OFFICER = ResponsibleOfficer(officer_id="OFF-1", name="Officer Example", unit="Sampleville PU")

CHILD = RescuedPerson(
    name="Test Child 7",
    sex="female",
    age_years=9,
    guardians_known=False,
    identity_known=False,
    disabilities=["hearing"],
    household_registration=HouseholdRegistration.UNKNOWN,
    has_means=False,
    languages=["zh"],
)
YOUTH = RescuedPerson(
    name="Test Youth 3",
    sex="male",
    age_years=17,
    guardians_known=True,
    identity_known=True,
    household_registration=HouseholdRegistration.NON_LOCAL,
)
RULES = load_rules()


def alert() -> AlertIssued:
    return AlertIssued(
        case_id=CASE,
        issuing_unit="Sampleville Police Unit",
        chief_officer=OFFICER,
        child=ChildDescription(name="Test Child 7", sex="female", age_years=9, height_cm=130),
        last_seen=PLACE,
        last_seen_at=utcnow() - timedelta(minutes=10),
        public_summary="Test Child 7, 9, yellow coat, last seen in Fictional Park",
        details="Police-only detail: left with an unknown adult",
    )


def rescue(case_id: str, person: RescuedPerson, closes_alert: bool) -> RescueNotified:
    return RescueNotified(
        case_id=case_id,
        rescue_id=f"RSC-{case_id}",
        rescuing_unit="Sampleville County Police",
        officer=OFFICER,
        person=person,
        rescued_at=utcnow(),
        location=PLACE.model_copy(update={"description": "Fictional Bus Station"}),
        closes_alert=closes_alert,
        dna=DnaSample(
            sample_id=DNA_CANARY,
            collected_at=utcnow(),
            laboratory="Fictional Forensic Lab",
            profile=f"STR {DNA_CANARY}",
        ),
        notes=f"Police notes {POLICE_CANARY}",
    )


def report(report_id: str) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "sector": "hotel",
        "reporter": {
            "name": f"Reporter {POLICE_CANARY}",
            "organisation": "Fictional Hotel",
            "role": "Night manager",
            "phone": "000-0000",
        },
        "observed": f"Observed {POLICE_CANARY}",
        # The reporter's place is police's alone (issue 14): a canary in it too.
        "location": PLACE.model_copy(
            update={"description": f"Fictional Hotel Row {POLICE_CANARY}"}
        ).model_dump(),
        "observed_at": utcnow().isoformat(),
        "person": {"description": f"Girl {POLICE_CANARY}", "sex": "female"},
    }


# -- the broker, read whole ----------------------------------------------------------------
class Broker:
    """Admin views of this test's slice: its topics, their ends, what groups committed."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.admin = KafkaAdminClient(**bus.settings.kafka_python())
        self.consumer = KafkaConsumer(group_id=None, **bus.settings.kafka_python())

    def topics(self) -> list[str]:
        return sorted(t for t in self.consumer.topics() if t.startswith(self.bus.prefix))

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t in topics for p in self.consumer.partitions_for_topic(t)]

    def consumed(self, app_id: str, topic_ids: list[str]) -> bool:
        """Whether a service's consumer group has committed every record of its inputs."""
        return not self.behind(app_id, topic_ids)

    def behind(self, app_id: str, topic_ids: list[str]) -> dict[str, tuple[int | None, int]]:
        """The input partitions a service's group has not committed to their end:
        "topic:partition" -> (committed offset or None, end offset)."""
        group = f"{self.bus.prefix}{app_id}"
        committed = self.admin.list_group_offsets({group: None}).get(group, {})
        ends = self.consumer.end_offsets(self.partitions([self.bus.topic(t) for t in topic_ids]))
        return {
            f"{tp.topic}:{tp.partition}": (committed[tp].offset if tp in committed else None, end)
            for tp, end in ends.items()
            if end and not (tp in committed and committed[tp].offset >= end)
        }

    def read_all(self) -> list[Raw]:
        parts = self.partitions(self.topics())
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning()
        ends = self.consumer.end_offsets(parts)
        out: list[Raw] = []
        deadline = time.monotonic() + 60
        while any(self.consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, "the slice was not read to its end in 60 s"
            for tp, msgs in self.consumer.poll(timeout_ms=500).items():
                out += [
                    (tp.topic, f"{tp.partition}:{m.offset}", m.key, m.value, list(m.headers or []))
                    for m in msgs
                ]
        return out

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def of(reader: TopicReader, cls: type[Event], **match: Any) -> list[Any]:
    """Decoded events of `cls` whose attributes equal `match`."""
    return [
        d.event
        for _, d in reader.decoded
        if isinstance(d.event, cls) and all(getattr(d.event, k) == v for k, v in match.items())
    ]


def closes(d: AlertDelivery) -> bool:
    e = d.event
    return isinstance(e, AlertCancelled) or (isinstance(e, PublicNotice) and e.status == "closed")


Login = Callable[[str], IntakeClient]


def run_flows(
    bus: Bus, login: Login, reader: TopicReader, broker: Broker, *, tips_url: str = ""
) -> None:
    """Every flow, each request under the identity that would send it (a public
    tip under none: the gateway's tip line at `tips_url`)."""
    client = login("police-case-system")  # police's case system: alerts, rescues, acks

    def agency(agency_id: str) -> IntakeClient:
        return login(f"agency-system-{agency_id.lower()}")

    # 1. The alert, to every agency type in range; updates and a sighting.
    issued = client.issue_alert(alert()).event_id
    everyone = {a.id for a in AGENCIES}
    reader.until(
        lambda r: {d.agency_id for d in of(r, AlertDelivery, source_event_id=issued)} >= everyone,
        90,
        "the alert everywhere",
    )
    client.update_alert(CASE, new_information="Police-only lead: a grey van")
    client.update_alert(
        CASE, new_information="Seen at the market", public_summary="Test Child 7 near the market"
    )
    client.report_sighting(
        CASE,
        sighting_id="S-1",
        location={"latitude": 30.02, "longitude": 104.02, "description": "Fictional Market"},
        seen_at=utcnow().isoformat(),
        reporter_kind="agency",
        description="A girl in a yellow coat",
    )
    if tips_url:
        # A public tip, left unacknowledged: its TipOverdue reaches the coordination
        # office, which must get neither what was seen nor the tipster's contact.
        tip = httpx.post(
            f"{tips_url}/public/v1/tips",
            json={
                "case_id": CASE,
                "seen_at": utcnow().isoformat(),
                "place": "Fictional Market, east gate",
                "description": f"A girl in a yellow coat {POLICE_CANARY}",
                "contact": POLICE_CANARY,
            },
            timeout=30,
        )
        assert tip.status_code == 202, tip.text

    # 2. Rescues: the child's closes the alert; the youth had none.
    client.notify_rescue(rescue(CASE, CHILD, closes_alert=True))
    client.notify_rescue(rescue(YOUTH_CASE, YOUTH, closes_alert=False))
    want = {(CASE, r.id) for r in RULES.at_rescue(CHILD)}
    want |= {(YOUTH_CASE, r.id) for r in RULES.at_rescue(YOUTH)}

    def offers(r: TopicReader) -> dict[tuple[str, str], ReferralRequested]:
        return {(e.case_id, e.rule_id): e for e in of(r, ReferralRequested, offer=1)}

    reader.until(lambda r: set(offers(r)) >= want, 90, "every referral")
    reader.until(
        lambda r: len(of(r, ReferralStatusChanged, status=TaskStatus.REQUESTED)) >= len(want),
        60,
        "every referral on the router's log",
    )
    reader.until(
        lambda r: (
            {d.agency_id for d in of(r, AlertDelivery, case_id=CASE) if closes(d)} >= everyone
        ),
        60,
        "the alert closed everywhere",
    )
    ref = offers(reader)

    # 3. Answers through HTTP: police's DNA work with its note, a rejection offered
    #    again, a rejection with no one left (escalated), and plain steps.
    dna = ref[(CASE, "dna_sampling")]
    agency(dna.agency_id).answer_referral(CASE, dna.referral_id, dna.agency_id, "accepted")
    agency(dna.agency_id).answer_referral(CASE, dna.referral_id, dna.agency_id, "in-progress")
    agency(dna.agency_id).answer_referral(
        CASE,
        dna.referral_id,
        dna.agency_id,
        "completed",
        outcome="service_provided",
        note=f"Profile {DNA_CANARY}: no match",
    )
    for (case, rule), status, reason in (
        ((CASE, "welfare_placement"), "rejected", "no_capacity"),
        ((CASE, "legal_aid"), "rejected", "out_of_area"),
        ((CASE, "health_check"), "accepted", None),
        ((CASE, "schooling"), "received", None),
        ((YOUTH_CASE, "vocational_training"), "accepted", None),
    ):
        r = ref[(case, rule)]
        agency(r.agency_id).answer_referral(case, r.referral_id, r.agency_id, status, reason=reason)
    login("police-forensics-lab").record_dna_comparison(
        CASE,
        sample_id=DNA_CANARY,
        database="Fictional national DNA database",
        result="no_match",
        matched_record=f"REC-{DNA_CANARY}",
        compared_at=utcnow().isoformat(),
    )
    # The procuratorate charges (issue 14): an outcome on police.case_outcomes.v1.
    login("agency-system-pro-0001").record_case_outcome(
        CASE, stage="charged", decided_at=utcnow().isoformat(), reference="(2026) TEST-QI-SU 0007"
    )
    codec, p = Codec(), producer(bus.settings)
    try:
        # An answer from an agency the referral is not offered to, straight onto the
        # bus (intake would refuse it): the router refuses it to that agency.
        wrong = ReferralAnswered(
            case_id=CASE,
            referral_id=ref[(CASE, "health_check")].referral_id,
            agency_id=FIRST[AgencyType.TRANSPORT],
            status=TaskStatus.ACCEPTED,
            # The transport agency's own system: its actor is right, its referral is not.
            actor=agency_actor(FIRST[AgencyType.TRANSPORT], AgencyType.TRANSPORT.value),
        )
        send_all(
            p, [(bus.topic("referral_answers"), codec.encode(wrong, key=CASE, source="/t")[0])]
        )
        reader.until(
            lambda r: (
                of(r, ReferralRequested, rule_id="welfare_placement", offer=2)
                and of(r, ReferralEscalated, rule_id="legal_aid")
                and of(r, ReferralAnswerRefused, agency_id=FIRST[AgencyType.TRANSPORT])
                and of(
                    r, ReferralStatusChanged, rule_id="dna_sampling", status=TaskStatus.COMPLETED
                )
            ),
            60,
            "the answers handled",
        )

        # 4. Mandatory reports: one acknowledged, one left to go overdue.
        hotel = agency(FIRST[AgencyType.CULTURE_TOURISM])  # a mandatory reporter
        hotel.file_report(**report("RPT-DL-1"))
        hotel.file_report(**report("RPT-DL-2"))
        client.acknowledge_report("RPT-DL-1", "Sampleville Station 3", FIRST[AgencyType.POLICE])
        reader.until(lambda r: broker.consumed("homeward-referrals", ROUTER_INPUTS), 90, "router")

        # 5. Time passes (a chosen `now`): overdue referrals and the unacknowledged report.
        later = utcnow() + timedelta(days=100)
        ticks = [
            ClockTick(case_id=c, now=later) for c in (CASE, YOUTH_CASE, "RPT-DL-1", "RPT-DL-2")
        ]
        topic = bus.topic("referral_ticks")
        send_all(p, [(topic, codec.encode(t, key=t.case_id, source="/t/clock")[0]) for t in ticks])
        reader.until(
            lambda r: (
                of(r, ReportOverdue, case_id="RPT-DL-2")
                and {e.case_id for e in of(r, ReferralOverdue)} >= {CASE, YOUTH_CASE}
            ),
            60,
            "overdue notices",
        )
    finally:
        p.close()


# The hospital's own records system: the detector judges only its own records.
HOSPITAL = agency_actor("HOSP-DL-1", AgencyType.HEALTH.value)


def run_health(bus: Bus, broker: Broker) -> None:
    """Hospital records through the detector: a birth whose certificate names
    another mother than its delivery, and an admission whose face check
    failed; both are anomalies, which go to police only."""
    mother = PersonIdentity(id_type="resident_id", id_number="HW-DL-M1", name="Test Mother One")
    other = PersonIdentity(id_type="resident_id", id_number="HW-DL-M2", name="Test Mother Two")
    passed = IdentityCheck(document_match=True, face_match=True)
    now = utcnow()
    baby = Baby(baby_id="B-DL-1", sex="female", weight_g=3100)
    records: list[tuple[Event, str]] = [
        (
            AdmissionRegistered(
                case_id="ADM-DL-1",
                hospital_id="HOSP-DL-1",
                actor=HOSPITAL,
                patient=mother,
                admitted_at=now - timedelta(hours=10),
                purpose="delivery",
                identity_check=IdentityCheck(document_match=True, face_match=False),
            ),
            mother.id_number,
        ),
        (
            DeliveryRecorded(
                case_id="DLV-DL-1",
                hospital_id="HOSP-DL-1",
                actor=HOSPITAL,
                mother=mother,
                delivered_at=now - timedelta(hours=8),
                baby=baby,
                identity_check=passed,
            ),
            mother.id_number,
        ),
        (
            BirthCertificateIssued(
                case_id="CERT-DL-1",
                hospital_id="HOSP-DL-1",
                actor=HOSPITAL,
                mother=other,
                baby=baby,
                delivery_id="DLV-DL-1",
                issued_at=now - timedelta(hours=2),
            ),
            other.id_number,
        ),
    ]
    codec, topic = Codec(), bus.topic("health_records")
    reader = TopicReader(bus.settings, [bus.topic("anomalies")])
    p = producer(bus.settings)
    try:
        send_all(p, [(topic, codec.encode(e, key=k, source="/t/hospital")[0]) for e, k in records])
        # A tick far ahead, once every record is handled: rule 1's "no delivery of
        # this mother" is then decided too, for the certificate's named mother.
        reader.until(
            lambda _: broker.consumed("homeward-detector", DETECTOR_INPUTS), 90, "detector"
        )
        later = utcnow() + timedelta(days=100)
        tick = ClockTick(case_id=other.id_number, now=later)
        send_all(
            p,
            [
                (
                    bus.topic("health_ticks"),
                    codec.encode(tick, key=tick.case_id, source="/t/clock")[0],
                )
            ],
        )
        reader.until(
            lambda r: (
                {
                    d.event.rule.value
                    for _, d in r.decoded
                    if isinstance(d.event, HealthAnomalyDetected)
                }
                >= {"identity_check_failed", "certificate_mother_mismatch"}
            ),
            90,
            "the health anomalies",
        )
    finally:
        p.close()
        reader.close()
