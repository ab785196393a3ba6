"""One CAP 1.2 message (OASIS Common Alerting Protocol) from one public notice,
as a pure function: lxml builds it, nothing here does I/O.

Only the notice goes in, and the notice is already the public part of an
alert (homeward_fanout.public): no officer, no exact coordinates (the ring's
centre is rounded), nothing the media role's projection leaves out. The
contact line is the site's public one plus the issuing unit, never a person.

The fixed codes, and why (CAP 1.2 section 3.2.2):
- category Rescue: the public is asked to help find a person;
- urgency Immediate: the first hours decide (the search widens by the hour);
- severity Severe: a threat to a child's life and safety, not Extreme (which
  CAP keeps for extraordinary threats to many);
- certainty Observed: the police have established that the child is missing;
- responseType Monitor: watch and report, do not act (AllClear on a Cancel,
  whose urgency is Past and severity Minor: the threat is over).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from lxml import etree

from homeward.events import PublicNotice
from homeward.text import neutralise

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
MsgType = Literal["Alert", "Update", "Cancel"]
Status = Literal["Actual", "Exercise"]
LANGUAGES = ("zh-CN", "en")
# Characters XML 1.0 cannot carry at all: texts come from other agencies'
# systems, and one stray control character must not make the message unbuildable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    # Bidi and C1 controls are valid XML but would make the public read the
    # text differently from what it says (homeward.text).
    return neutralise(_NOT_XML.sub(" ", text))


def cap_time(moment: datetime, zone: tzinfo = UTC) -> str:
    """CAP's date-time: YYYY-MM-DDThh:mm:ss+hh:mm in `zone`, UTC as -00:00 (never Z)."""
    local = moment.astimezone(zone).replace(microsecond=0)
    offset = local.utcoffset() or timedelta(0)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta(0):
        return text + "-00:00"
    sign = "+" if offset > timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Reference:
    """An earlier message this one refers to (CAP `references`: sender,identifier,sent)."""

    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True)
class Texts:
    """What a site says about itself: who sends, the public contact line."""

    sender: str = "homeward@example.invalid"
    sender_name_zh: str = "Homeward 寻人协作平台"
    sender_name_en: str = "Homeward search network"
    contact_zh: str = "报警电话 110"
    contact_en: str = "Police: dial 110"


@dataclass(frozen=True)
class Message:
    """What one CAP message says, besides the notice itself."""

    identifier: str
    sent: datetime
    msg_type: MsgType
    notice: PublicNotice
    references: tuple[Reference, ...] = ()
    status: Status = "Actual"
    web: str | None = None


_SEX = {
    "zh-CN": {"female": "女", "male": "男", "unknown": "不详"},
    "en": {"female": "female", "male": "male", "unknown": "sex unknown"},
}
_EVENT = {"zh-CN": "儿童失踪", "en": "Missing child"}
_PREFIX: dict[str, dict[str, str]] = {
    "zh-CN": {
        "active": "",
        "updated": "【更新】",
        "widened": "【范围扩大】",
        "closed": "【已解除】",
    },
    "en": {"active": "", "updated": "Update: ", "widened": "Search widened: ", "closed": "Ended: "},
}
_DRILL = {"zh-CN": "【演练】", "en": "EXERCISE: "}
_INSTRUCTION = {
    "zh-CN": (
        "如发现该儿童，请立即拨打110或联系发布单位，请勿自行接近。",
        "寻人已结束，感谢公众协助。",
    ),
    "en": (
        "If you see this child, call 110 or the issuing unit at once; do not approach.",
        "The search has ended; thank you for your help.",
    ),
}


def headline(notice: PublicNotice, lang: str, exercise: bool = False) -> str:
    name = clean(notice.child_name or "")
    if lang == "zh-CN":
        who = f"寻找失踪儿童{name}" + (
            f"（{notice.age_years}岁）" if notice.age_years is not None else ""
        )
    else:
        who = f"Missing child {name}".rstrip() + (
            f", {notice.age_years}" if notice.age_years is not None else ""
        )
    drill = _DRILL[lang] if exercise else ""
    return drill + _PREFIX[lang][notice.status] + who


def description(notice: PublicNotice, lang: str, zone: tzinfo) -> str:
    zh = lang == "zh-CN"
    facts: list[str] = []
    if notice.sex:
        facts.append(("性别：" if zh else "Sex: ") + _SEX[lang][notice.sex])
    if notice.age_years is not None:
        facts.append(f"年龄：{notice.age_years}岁" if zh else f"Age: {notice.age_years}")
    if notice.height_cm is not None:
        facts.append(f"身高：{notice.height_cm}厘米" if zh else f"Height: {notice.height_cm} cm")
    if notice.clothing:
        facts.append(("衣着：" if zh else "Clothing: ") + notice.clothing)
    if notice.last_seen_area or notice.last_seen_at:
        when = (
            notice.last_seen_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if notice.last_seen_at
            else ""
        )
        where = notice.last_seen_area or ""
        facts.append(
            ("最后出现：" if zh else "Last seen: ") + " ".join(p for p in (where, when) if p)
        )
    sep = "；" if zh else "; "
    return clean("\n".join(p for p in (notice.summary, sep.join(facts)) if p))


def circle(notice: PublicNotice) -> str | None:
    """The ring as CAP's "lat,lon radius" (WGS 84, radius in km), or None without one."""
    if notice.radius_km is None or notice.area_latitude is None or notice.area_longitude is None:
        return None
    return f"{notice.area_latitude:.2f},{notice.area_longitude:.2f} {notice.radius_km}"


def area_desc(notice: PublicNotice, lang: str) -> str:
    where = clean(notice.last_seen_area or "")
    if notice.radius_km is None:
        return where or ("发布单位辖区" if lang == "zh-CN" else "The issuing unit's area")
    if lang == "zh-CN":
        return f"{where}周边{notice.radius_km}公里" if where else f"{notice.radius_km}公里范围"
    return f"Within {notice.radius_km} km of {where}" if where else f"{notice.radius_km} km ring"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _info(root: etree._Element, message: Message, lang: str, texts: Texts, zone: tzinfo) -> None:
    notice = message.notice
    over = message.msg_type == "Cancel"
    info = _sub(root, "info")
    _sub(info, "language", lang)
    _sub(info, "category", "Rescue")
    _sub(info, "event", _EVENT[lang])
    _sub(info, "responseType", "AllClear" if over else "Monitor")
    _sub(info, "urgency", "Past" if over else "Immediate")
    _sub(info, "severity", "Minor" if over else "Severe")
    _sub(info, "certainty", "Observed")
    zh = lang == "zh-CN"
    _sub(info, "senderName", texts.sender_name_zh if zh else texts.sender_name_en)
    _sub(info, "headline", headline(notice, lang, message.status == "Exercise"))
    _sub(info, "description", description(notice, lang, zone))
    _sub(info, "instruction", _INSTRUCTION[lang][1 if over else 0])
    if message.web:
        _sub(info, "web", message.web)
    line = texts.contact_zh if zh else texts.contact_en
    unit = clean(notice.contact or "")
    _sub(info, "contact", f"{line}{'；' if zh else '; '}{unit}" if unit else line)
    area = _sub(info, "area")
    _sub(area, "areaDesc", area_desc(notice, lang))
    ring = circle(notice)
    if ring is not None:
        _sub(area, "circle", ring)


def build(message: Message, texts: Texts, zone: tzinfo = UTC) -> etree._Element:
    """The <alert> element of `message`."""
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", message.identifier)
    _sub(root, "sender", texts.sender)
    _sub(root, "sent", cap_time(message.sent, zone))
    _sub(root, "status", message.status)
    _sub(root, "msgType", message.msg_type)
    _sub(root, "scope", "Public")
    if message.status == "Exercise":
        _sub(root, "note", "演练，非真实警报 / Exercise: not a real alert")
    if message.references:
        _sub(root, "references", " ".join(str(r) for r in message.references))
    for lang in LANGUAGES:
        _info(root, message, lang, texts, zone)
    return root


def to_bytes(root: etree._Element) -> bytes:
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def references(
    sender: str, earlier: Sequence[Message], zone: tzinfo = UTC
) -> tuple[Reference, ...]:
    return tuple(Reference(sender, m.identifier, cap_time(m.sent, zone)) for m in earlier)
