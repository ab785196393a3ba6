"""The Atom index (RFC 4287): well-formed, with the elements a feed and each
entry must have, newest first, each entry linking to its CAP message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lxml import etree

from homeward_gateway.public.atom import ATOM_NS, CAP_TYPE, index
from homeward_gateway.public.cap import Texts
from homeward_gateway.public.feed import Feed
from tests.unit.cap.test_cap_messages import delivery, notice

A = {"a": ATOM_NS}
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
BASE = "https://feed.example.invalid/public/cap"


def build(feed: Feed) -> etree._Element:
    xml = index(
        feed.newest(50),
        base=BASE,
        title="测试 feed",
        author="Homeward",
        feed_id="urn:homeward:cap",
        now=T0,
        zone=UTC,
    )
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    return etree.fromstring(xml)  # raises on anything not well-formed


def test_an_empty_feed_has_the_required_feed_elements() -> None:
    root = build(Feed(Texts(), UTC))
    assert root.tag == f"{{{ATOM_NS}}}feed"
    for tag in ("id", "title", "updated", "author/a:name"):
        assert root.findtext(f"a:{tag}", namespaces=A), tag
    assert root.find("a:link[@rel='self']", A).get("href") == f"{BASE}/index.atom"
    assert root.findall("a:entry", A) == []


def test_entries_are_newest_first_and_link_to_their_cap_message() -> None:
    feed = Feed(Texts(), UTC)
    feed.offer(delivery(notice(), 1))
    feed.offer(delivery(notice(status="widened", radius_km=200, as_of=T0 + timedelta(hours=1)), 2))
    feed.offer(delivery(notice(status="closed", radius_km=200, as_of=T0 + timedelta(hours=2)), 3))
    root = build(feed)
    entries = root.findall("a:entry", A)
    assert [
        e.findtext("a:category", namespaces=A) or e.find("a:category", A).get("term")
        for e in entries
    ] == ["Cancel", "Update", "Alert"]
    for e in entries:
        for tag in ("id", "title", "updated", "summary"):
            assert e.findtext(f"a:{tag}", namespaces=A), tag
        link = e.find("a:link[@rel='alternate']", A)
        assert link.get("type") == CAP_TYPE
        assert link.get("href").startswith(f"{BASE}/CASE-CAP-2.") and link.get("href").endswith(
            ".xml"
        )
    assert len({e.findtext("a:id", namespaces=A) for e in entries}) == 3
    assert root.findtext("a:updated", namespaces=A) == entries[0].findtext(
        "a:updated", namespaces=A
    )
    assert "测试儿童甲" in entries[-1].findtext("a:title", namespaces=A)
