"""What the fan-out keeps per case, and its JSON form.

Only what cannot be recomputed is kept, so that a case stays small however
many agencies it reaches: per recipient the ring it was reached at, and per
alert delivery still awaiting its acknowledgement [attempts, due ms]. An
agency's type and distance come from the directory and the alert's last-seen
point; an alert delivery's id is delivery_id(alert event id, agency id); the
time a delivery was first sent is its ring's (one widening sends a ring).

Stored form (version 2): recipients grouped by ring, each either its id or,
while its alert delivery awaits an acknowledgement, [id, attempts, due ms],
so each id is written once. store.py compresses it. Version 1 (one JSON
object with [type, ring, km] per recipient and a pending entry per delivery
id, about 270 bytes per agency) is still read.

Two keys were added to version 2 without a new version, as both sides read
them safely: "stage" (the alert's homeward.alert_lifecycle state; absent, it
is derived from "status") and "history" (the updates and sightings so far, for
agencies first reached by a widening; absent, none). A previous version
ignores both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from homeward.alert_lifecycle import AlertState
from homeward.errors import HomewardError
from homeward.events import AlertIssued
from homeward_fanout.public import PublicPart
from homeward_fanout.rules import RadiusSchedule

MS_PER_HOUR = 3_600_000
FORMAT = 2
# What a widening catches a newly reached agency up on (planner._History.catch_up):
# every update (few) and the latest sightings (possibly many: capped).
UPDATES_KEPT = 32
SIGHTINGS_KEPT = 32
UPDATE, SIGHTING = "AlertUpdated", "SightingReported"


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class StateFormatError(HomewardError):
    """A stored case state this version cannot read."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="state")


class Timing(Protocol):
    """What next_wakeup_ms needs of planner.Policy."""

    @property
    def schedule(self) -> RadiusSchedule: ...

    @property
    def clock_speed(self) -> float: ...


@dataclass
class CaseState:
    case_id: str
    status: str  # active | cancelled
    alert: dict[str, Any]  # the AlertIssued, JSON mode
    alert_event_id: str
    accepted_ms: int
    radius_km: int
    # agency id -> ring (km) it was reached at, in the order reached.
    recipients: dict[str, int] = field(default_factory=dict)
    # agency id -> (attempts, due ms) of its alert delivery awaiting an acknowledgement.
    pending: dict[str, tuple[int, int]] = field(default_factory=dict)
    # ring km -> when that ring's deliveries were first sent.
    sent_ms: dict[int, int] = field(default_factory=dict)
    seen_events: list[str] = field(default_factory=list)
    public: dict[str, Any] = field(default_factory=dict)  # PublicPart after public updates
    # The alert's lifecycle state (homeward.alert_lifecycle.AlertState value).
    stage: str = AlertState.ACTIVE.value
    # [event id, accepted ms, kind (UPDATE | SIGHTING), event JSON] in arrival order.
    history: list[list[Any]] = field(default_factory=list)
    # Alert delivery id -> agency id of the first len(owners) recipients, built
    # when an acknowledgement needs it (planner._owner); never stored.
    owners: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def issued(self) -> AlertIssued:
        return AlertIssued.model_validate(self.alert)

    @property
    def public_part(self) -> PublicPart:
        return PublicPart(**self.public)

    def first_sent_ms(self, agency_id: str) -> int:
        return self.sent_ms.get(self.recipients.get(agency_id, -1), self.accepted_ms)

    def copy(self) -> CaseState:
        """A copy the planner may change without touching this one (pending
        values are tuples, alert and public are replaced, never changed)."""
        return CaseState(
            self.case_id,
            self.status,
            self.alert,
            self.alert_event_id,
            self.accepted_ms,
            self.radius_km,
            dict(self.recipients),
            dict(self.pending),
            dict(self.sent_ms),
            list(self.seen_events),
            self.public,
            self.stage,
            list(self.history),
        )

    def record(self, event_id: str, accepted_ms: int, kind: str, event: dict[str, Any]) -> None:
        """Keep an update or sighting for agencies a later widening reaches;
        past its kind's cap the oldest of that kind goes."""
        self.history.append([event_id, accepted_ms, kind, event])
        cap = UPDATES_KEPT if kind == UPDATE else SIGHTINGS_KEPT
        same = [i for i, h in enumerate(self.history) if h[2] == kind]
        for i in reversed(same[:-cap]):
            del self.history[i]

    def hours_since_last_seen(self, now_ms: int, policy: Timing) -> float:
        last_seen_ms = to_ms(datetime.fromisoformat(self.alert["last_seen_at"]))
        before = max(0, self.accepted_ms - last_seen_ms)
        after = max(0, now_ms - self.accepted_ms) * policy.clock_speed
        return (before + after) / MS_PER_HOUR

    def next_wakeup_ms(self, policy: Timing) -> int | None:
        """The earliest time a tick has something to do: a wider ring or an ack due."""
        if self.status != "active":
            return None
        due = min((d for _, d in self.pending.values()), default=None)
        times = [] if due is None else [due]
        limit = policy.schedule.growth_hours(self.radius_km)
        if limit is not None:
            last_seen_ms = to_ms(datetime.fromisoformat(self.alert["last_seen_at"]))
            before = max(0, self.accepted_ms - last_seen_ms)
            wait = max(0.0, (limit * MS_PER_HOUR - before) / policy.clock_speed)
            times.append(self.accepted_ms + int(wait) + 1)
        return min(times) if times else None

    def to_json(self) -> dict[str, Any]:
        rings: dict[int, list[Any]] = {km: [] for km in self.sent_ms}
        pending = self.pending
        for aid, km in self.recipients.items():
            p = pending.get(aid)
            rings.setdefault(km, []).append(aid if p is None else [aid, p[0], p[1]])
        return {
            "v": FORMAT,
            "case_id": self.case_id,
            "status": self.status,
            "alert": self.alert,
            "alert_event_id": self.alert_event_id,
            "accepted_ms": self.accepted_ms,
            "radius_km": self.radius_km,
            "rings": [[km, self.sent_ms.get(km), ids] for km, ids in rings.items()],
            "seen_events": self.seen_events,
            "public": self.public,
            "stage": self.stage,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseState:
        version = data.get("v", 1)
        if version == 1:
            return _from_v1(data)
        if version != FORMAT:
            raise StateFormatError(f"case state format {version!r} is not one this version reads")
        state = cls(
            data["case_id"],
            data["status"],
            data["alert"],
            data["alert_event_id"],
            data["accepted_ms"],
            data["radius_km"],
            seen_events=data["seen_events"],
            public=data["public"],
            stage=data.get("stage") or _stage_of(data["status"]),
            history=list(data.get("history", [])),
        )
        recipients, pending = state.recipients, state.pending
        for km, sent, entries in data["rings"]:
            if sent is not None:
                state.sent_ms[km] = sent
            for entry in entries:
                if isinstance(entry, str):
                    recipients[entry] = km
                else:
                    aid, attempts, due = entry
                    recipients[aid] = km
                    pending[aid] = (attempts, due)
        return state


def _from_v1(data: dict[str, Any]) -> CaseState:
    """A state stored before version 2: recipients {id: [type, ring, km]} and
    pending {delivery id: {agency_id, attempts, first_sent_ms, due_ms, ...}}."""
    try:
        state = CaseState(
            data["case_id"],
            data["status"],
            data["alert"],
            data["alert_event_id"],
            data["accepted_ms"],
            data["radius_km"],
            recipients={aid: int(info[1]) for aid, info in data.get("recipients", {}).items()},
            seen_events=list(data.get("seen_events", [])),
            public=data.get("public", {}),
            stage=_stage_of(data["status"]),
        )
        for p in data.get("pending", {}).values():
            state.pending[p["agency_id"]] = (p["attempts"], p["due_ms"])
            km = state.recipients.setdefault(p["agency_id"], p["ring_km"])
            sent = state.sent_ms.get(km)
            state.sent_ms[km] = (
                p["first_sent_ms"] if sent is None else min(sent, p["first_sent_ms"])
            )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise StateFormatError(f"unreadable case state (format 1): {exc!r}") from exc
    return state


def _stage_of(status: str) -> str:
    """The lifecycle state of a state stored before "stage" was: an open case
    was active (issued, widened or updated tell nothing more to the fan-out);
    a cancelled one is closed, its reason unknown (every closed state refuses
    the same steps)."""
    return AlertState.ACTIVE.value if status == "active" else AlertState.CANCELLED_WITHDRAWN.value
