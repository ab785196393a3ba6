"""The demo's second act: the child is found and rescued, another child with
no known guardians is rescued in the same operation, and the agencies answer
their referrals. Every name, id and place is plainly fake.

How the simulated agencies answer (the Fleet's answer policy):
- most referrals go received -> accepted -> in-progress -> completed;
- the first civil-affairs agency asked to place the second child rejects it
  (no capacity), so the router offers it to the next nearest one;
- the justice agency asked for the first child's legal aid never answers, so
  its (demo-short) answer deadline passes and the coordination office hears.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta

from homeward.events import (
    DnaSample,
    HouseholdRegistration,
    Location,
    ReferralRequested,
    RescuedPerson,
    ResponsibleOfficer,
    TaskStatus,
)
from homeward.events.base import utcnow
from homeward_agency.answers import PlannedAnswer
from homeward_agency.delivery import Delivery

# In the issuing police agency's namespace (POL-0001, police-case-system's): intake
# refuses an alert whose case id another agency's prefix would own.
FOUND_CASE = "POL-0001-DEMO-0001"
UNKNOWN_CASE = "POL-0001-DEMO-0002"
SILENT_RULE = (FOUND_CASE, "legal_aid")
REJECTED_RULE = (UNKNOWN_CASE, "welfare_placement")
# The deadline the demo shortens so that one is missed while you watch.
DEMO_DEADLINES = "legal_aid=PT6S/P30D"

RESCUE_PLACE = Location(
    latitude=30.35,
    longitude=104.52,
    description="Demoville coach station (fictional)",
    admin_code="990102",
)
OFFICER = ResponsibleOfficer(
    officer_id="OFFICER-0007",
    name="Officer Example Li",
    unit="Sampleville County Police Bureau (fictional)",
    phone="000-0000-0007",
)


def found_child() -> dict[str, object]:
    """Test Child A, the missing girl: her parents are known, so no DNA or placement."""
    return {
        "case_id": FOUND_CASE,
        "rescue_id": "RESCUE-DEMO-0001",
        "rescuing_unit": OFFICER.unit,
        "officer": OFFICER,
        "person": RescuedPerson(
            name="Test Child A",
            sex="female",
            age_years=6,
            guardians_known=True,
            identity_known=True,
            household_registration=HouseholdRegistration.LOCAL,
        ),
        "rescued_at": utcnow(),
        "location": RESCUE_PLACE,
        "closes_alert": True,
        "notes": "Synthetic demo rescue.",
    }


def unknown_child() -> dict[str, object]:
    """A boy of about three found with her: no guardians, no identity, no means."""
    now = utcnow()
    return {
        "case_id": UNKNOWN_CASE,
        "rescue_id": "RESCUE-DEMO-0002",
        "rescuing_unit": OFFICER.unit,
        "officer": OFFICER,
        "person": RescuedPerson(
            sex="male",
            age_years=3,
            age_estimated=True,
            guardians_known=False,
            identity_known=False,
            household_registration=HouseholdRegistration.UNKNOWN,
            has_means=False,
        ),
        "rescued_at": now,
        "location": RESCUE_PLACE,
        # DNA stays on police topics; the demo's sample id is as fake as the rest.
        "dna": DnaSample(
            sample_id="DNA-DEMO-0002",
            collected_at=now - timedelta(minutes=5),
            laboratory="Sampleville Forensic Lab (fictional)",
        ),
        "notes": "Synthetic demo rescue; found with Test Child A.",
    }


def answers(delivery: Delivery) -> Sequence[PlannedAnswer]:
    """The answer policy the demo's simulated agencies follow."""
    event = delivery.event
    if not isinstance(event, ReferralRequested):
        return []
    return answers_to(event)


def answers_to(event: ReferralRequested) -> Sequence[PlannedAnswer]:
    """The same policy for an agency that receives through the gateway."""
    which = (event.case_id, event.rule_id)
    if which == SILENT_RULE:
        return []
    rng = random.Random(f"{event.referral_id}/{event.offer}")
    t = rng.uniform(0.2, 0.8)
    if which == REJECTED_RULE and event.offer == 1:
        return [
            PlannedAnswer(TaskStatus.RECEIVED, after=t),
            PlannedAnswer(TaskStatus.REJECTED, reason="no_capacity", after=t + 0.4),
        ]
    steps = [TaskStatus.RECEIVED, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS]
    planned = [PlannedAnswer(s, after=t + 0.3 * i) for i, s in enumerate(steps)]
    done = t + 0.9 + rng.uniform(0.3, 1.5)
    planned.append(PlannedAnswer(TaskStatus.COMPLETED, outcome="service_provided", after=done))
    return planned
