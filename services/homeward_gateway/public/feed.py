"""The CAP feed's state: which messages the public notices seen so far make.

The gateway's store hands every inbox entry here (InboxStore.listen). A
public notice reaches each media and online-platform inbox, so the same
notice arrives many times, and a widening sends the newly reached channels
the alert while those reached before get a "widened" notice: the feed keeps
one message per change of what the public is told, per case:

- the first notice of a case: `Alert`;
- a notice that changes what the public sees (a public update, a wider ring):
  `Update`, referring to every earlier message of the case;
- a closed notice: `Cancel`, referring to every earlier message; the case
  takes nothing more;
- a copy (nothing changed), or a notice older than the case's latest message
  (a copy from another inbox read late): nothing;
- a notice without a public summary (the alert was not released to the
  public): nothing, until one that has one.

Identifiers are `<case id>.<n>` (n the message's place in its case), and the
sent time is the notice's `as_of`: a gateway restarted on the same topics
rebuilds the same feed. A drill is refused, whatever the notice says: the
fan-out never sends one, and this is the second lock on that door.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from homeward.events import AlertDelivery, PublicNotice
from homeward_gateway.public.cap import Message, MsgType, Texts, build, references, to_bytes
from homeward_gateway.public.sign import Signer

log = logging.getLogger(__name__)

# What the public sees of a notice: a notice equal in these tells nothing new.
_SHOWN = (
    "summary",
    "child_name",
    "sex",
    "age_years",
    "height_cm",
    "clothing",
    "photo_ref",
    "last_seen_area",
    "last_seen_at",
    "contact",
    "radius_km",
    "area_latitude",
    "area_longitude",
)


class ExerciseRefused(ValueError):
    """A drill's delivery offered to the public feed."""


def shown(notice: PublicNotice) -> tuple[Any, ...]:
    return tuple(getattr(notice, f) for f in _SHOWN)


@dataclass(frozen=True)
class Published:
    """One message of the feed, rendered once."""

    message: Message
    case_id: str
    xml: bytes


@dataclass
class _Case:
    messages: list[Published] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return bool(self.messages) and self.messages[-1].message.msg_type == "Cancel"


class Feed:
    """The messages made so far, by identifier and newest first. Thread-safe:
    the store's follower calls `offer` while HTTP handlers read."""

    def __init__(
        self, texts: Texts, zone: tzinfo, web: str | None = None, signer: Signer | None = None
    ) -> None:
        self.texts, self.zone, self.web, self.signer = texts, zone, web, signer
        self._cases: dict[str, _Case] = {}
        self._by_id: dict[str, Published] = {}
        self._order: list[Published] = []
        self.refused_exercises = 0
        self._lock = threading.Lock()

    def offer(self, delivery: AlertDelivery) -> Published | None:
        """The message `delivery` makes, if it makes one (see the module doc).
        A drill's raises ExerciseRefused."""
        notice = delivery.event
        if not isinstance(notice, PublicNotice):
            return None
        if delivery.exercise:
            raise ExerciseRefused(f"delivery {delivery.delivery_id} is of a drill")
        sent = notice.as_of or delivery.accepted_at
        with self._lock:
            case = self._cases.setdefault(notice.case_id, _Case())
            kind = self._kind(case, notice, sent)
            if kind is None:
                return None
            earlier = [p.message for p in case.messages]
            identifier = f"{notice.case_id}.{len(earlier) + 1}"
            message = Message(
                identifier=identifier,
                sent=sent,
                msg_type=kind,
                notice=notice,
                references=references(self.texts.sender, earlier, self.zone),
                web=f"{self.web.rstrip('/')}/{identifier}.xml" if self.web else None,
            )
            root = build(message, self.texts, self.zone)
            if self.signer is not None:
                root = self.signer.sign(root)
            published = Published(message, notice.case_id, to_bytes(root))
            case.messages.append(published)
            self._by_id[identifier] = published
            self._order.append(published)
            return published

    def offer_entry(self, delivery: object) -> None:
        """The store's listen callback: any inbox record; only public notices count."""
        if not isinstance(delivery, AlertDelivery):
            return
        try:
            self.offer(delivery)
        except ExerciseRefused as exc:
            self.refused_exercises += 1
            log.error("the public feed refused a drill's notice: %s", exc)

    @staticmethod
    def _kind(case: _Case, notice: PublicNotice, sent: Any) -> MsgType | None:
        if case.closed:
            return None
        if not notice.summary.strip() and notice.status != "closed":
            # No public summary: police did not release the alert to the public
            # (intake's alert.release_public); nothing of it is published.
            return None
        if not case.messages:
            return None if notice.status == "closed" else "Alert"
        latest = case.messages[-1].message
        if notice.status == "closed":
            return "Cancel"
        if sent < latest.sent or shown(notice) == shown(latest.notice):
            return None
        return "Update"

    def get(self, identifier: str) -> Published | None:
        with self._lock:
            return self._by_id.get(identifier)

    def newest(self, limit: int) -> list[Published]:
        with self._lock:
            return list(reversed(self._order[-limit:]))

    def of_case(self, case_id: str) -> list[Published]:
        with self._lock:
            case = self._cases.get(case_id)
            return list(case.messages) if case else []

    def offer_all(self, deliveries: Iterable[AlertDelivery]) -> list[Published]:
        made = (self.offer(d) for d in deliveries)
        return [p for p in made if p is not None]
