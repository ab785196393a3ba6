"""The feed's Atom index (RFC 4287): one entry per CAP message, newest first,
each linking to the message itself (type application/cap+xml), as CAP
aggregators (e.g. the WMO Register of Alerting Authorities' feeds) read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from lxml import etree

from homeward_gateway.public.cap import cap_time, headline
from homeward_gateway.public.feed import Published

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_TYPE = "application/cap+xml"
ATOM_TYPE = "application/atom+xml"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def message_url(base: str, identifier: str) -> str:
    return f"{base.rstrip('/')}/{identifier}.xml"


def index(
    messages: Sequence[Published],
    *,
    base: str,
    title: str,
    author: str,
    feed_id: str,
    now: datetime,
    zone: tzinfo,
) -> bytes:
    """The Atom document: `base` is the feed's URL prefix (…/public/cap)."""
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    _sub(root, "id", feed_id)
    _sub(root, "title", title)
    latest = messages[0].message.sent if messages else now
    _sub(root, "updated", cap_time(latest, zone))
    _sub(root, "link", rel="self", type=ATOM_TYPE, href=f"{base.rstrip('/')}/index.atom")
    _sub(_sub(root, "author"), "name", author)
    for p in messages:
        m = p.message
        entry = _sub(root, "entry")
        _sub(entry, "id", f"{feed_id}:{m.identifier}")
        _sub(entry, "title", headline(m.notice, "zh-CN"))
        _sub(entry, "updated", cap_time(m.sent, zone))
        _sub(entry, "category", term=m.msg_type)
        _sub(entry, "summary", f"{m.msg_type}: {headline(m.notice, 'en')}")
        _sub(entry, "link", rel="alternate", type=CAP_TYPE, href=message_url(base, m.identifier))
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out
