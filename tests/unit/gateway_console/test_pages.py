"""The console's pages and forms over an in-memory gateway: who sees what, CSRF on
every POST, the cookie's flags, one-click acknowledgement, answers, and no external asset."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from homeward.codec import Codec
from homeward.events import AgencyAcknowledgement, ReferralAnswered, ReportAcknowledged
from homeward.topology import current_topology
from tests.offline import css_references, external, references
from tests.unit.agency import samples as s
from tests.unit.gateway.samples import anomaly
from tests.unit.gateway_console.conftest import AGENCY, COORD, Console

CODEC = Codec()


def published(console: Console, cls: type) -> list[tuple[str, object]]:
    out = []
    for topic, record in console.sink.sent:
        event = CODEC.decode(record.value, record.headers).event
        if isinstance(event, cls):
            out.append((topic, event))
    return out


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_without_a_session_every_page_sends_you_to_the_login(console: Console) -> None:
    for path in ("/console/inbox", "/console/referrals", "/console/oversight", "/console/events"):
        got = console.http.get(path)
        assert got.status_code == 303 and got.headers["location"] == "/console/login", path
    page = console.http.get("/console/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "使用机构账号登录" in page.text


def test_the_session_cookie_is_secure_httponly_samesite_and_scoped(console: Console) -> None:
    got = console.http.get("/console/login")  # the first page makes the session's CSRF token
    cookie = next(
        c for c in got.headers.get_list("set-cookie") if c.startswith("homeward_console=")
    )
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path", "max-age"} <= flags
    assert re.search(r"samesite=lax", cookie, re.I)
    assert re.search(r"path=/console(;|$)", cookie, re.I)


def test_language_is_chinese_by_default_english_by_choice_and_remembered(console: Console) -> None:
    console.login()
    zh = console.http.get("/console/inbox")
    assert '<html lang="zh-CN">' in zh.text and "预警收件箱" in zh.text
    en = console.http.get("/console/inbox?lang=en")
    assert '<html lang="en">' in en.text and "Alert inbox" in en.text
    lang_cookie = next(c for c in en.headers.get_list("set-cookie") if "homeward_console_lang" in c)
    assert "Secure" in lang_cookie and "HttpOnly" in lang_cookie
    again = console.http.get("/console/inbox")
    assert '<html lang="en">' in again.text


def test_inbox_one_card_per_case_newest_first_sightings_in_place_cancelled_closed(
    console: Console,
) -> None:
    console.login()
    html = console.http.get("/console/inbox").text
    first, second = html.index('id="case-CASE-TEST-2"'), html.index('id="case-CASE-TEST-1"')
    assert first < second  # the case with the newest delivery first
    classes = re.search(r'<article class="([^"]*)" id="case-CASE-TEST-2"', html)
    assert classes and "closed" in classes.group(1).split()
    assert "已关闭" in html[first:second]
    open_card = html[second:]
    assert "Test Child Alpha" in open_card
    assert "目击线索" in open_card  # the sighting, inside the alert's card
    assert "责任民警" in open_card and "推送范围" in open_card
    assert html.count('action="/console/ack/') == 4


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_does_nothing(
    console: Console,
) -> None:
    console.login(csrf="right-token-" + "x" * 32)
    missing = console.http.post("/console/ack/DLV-1", data={})
    wrong = console.http.post("/console/ack/DLV-1", data={"csrf_token": "wrong-" + "y" * 32})
    assert missing.status_code == 403 and wrong.status_code == 403
    assert console.sink.sent == []
    answer = console.http.post(
        "/console/referrals/REF-TEST-1/answer",
        data={"status": "rejected", "reason": "no_capacity", "csrf_token": "nope"},
    )
    assert answer.status_code == 403 and console.sink.sent == []
    logout = console.http.post("/console/logout", data={})
    assert logout.status_code == 403


def test_the_report_desks_acknowledge_form_refuses_a_missing_or_wrong_csrf_token(
    console: Console,
) -> None:
    console.store.add_report(s.report("RPT-TEST-7"), "ev-7", datetime(2030, 1, 2, tzinfo=UTC))
    token = console.login(
        agency_id="PS-TEST-1", agency_type="police", roles=("police_officer",), csrf="r" * 43
    )
    desk = console.http.get("/console/reports").text
    assert 'action="/console/reports/RPT-TEST-7/ack"' in desk and csrf_of(desk) == token
    for form in ({}, {"csrf_token": "wrong-" + "y" * 37}, {"csrf_token": ""}):
        got = console.http.post("/console/reports/RPT-TEST-7/ack", data=form)
        assert got.status_code == 403, (form, got.status_code)
        assert "表单已过期" in got.text
    assert console.sink.sent == []
    entry = console.store.report("RPT-TEST-7")
    assert entry is not None and entry.acknowledged is None
    assert 'action="/console/reports/RPT-TEST-7/ack"' in console.http.get("/console/reports").text
    # The session's own token is accepted: the refusals above were the CSRF check's.
    ok = console.http.post("/console/reports/RPT-TEST-7/ack", data={"csrf_token": token})
    assert ok.status_code == 303 and ok.headers["location"].startswith("/console/reports")
    ((_topic, ack),) = published(console, ReportAcknowledged)
    assert ack.case_id == "RPT-TEST-7" and ack.agency_id == "PS-TEST-1"


def test_acknowledge_with_one_click_publishes_the_sdks_record(console: Console) -> None:
    token = console.login()
    page = console.http.get("/console/inbox").text
    got = console.http.post("/console/ack/DLV-1", data={"csrf_token": csrf_of(page)})
    assert got.status_code == 303 and got.headers["location"].startswith("/console/inbox")
    ((topic, ack),) = published(console, AgencyAcknowledgement)
    assert topic == current_topology().get("alert_acks").name
    assert ack.delivery_id == "DLV-1" and ack.agency_id == AGENCY
    assert ack.actor is not None and ack.actor.principal == f"staff-{AGENCY.lower()}"
    after = console.http.get("/console/inbox").text
    assert 'data-acked="true"' in after
    assert token
    # a second click publishes nothing more
    console.http.post("/console/ack/DLV-1", data={"csrf_token": token})
    assert len(published(console, AgencyAcknowledgement)) == 1


def test_reject_a_referral_with_a_coded_reason(console: Console) -> None:
    token = console.login()
    page = console.http.get("/console/referrals").text
    assert "Test Child Beta" in page  # the victim's fields the role may see
    assert 'name="reason"' in page and 'value="no_capacity"' in page
    full = page[page.index('id="referral-REF-TEST-2"') :]
    assert "Fake Station" in full and "Officer Test · Fake Unit · 000" in full
    assert "2030-01-02 11:04:05" in full  # rescued_at, in China's zone
    assert "zh, yue" in full and "否" in full
    got = console.http.post(
        "/console/referrals/REF-TEST-1/answer",
        data={"status": "rejected", "reason": "no_capacity", "note": "full", "csrf_token": token},
    )
    assert got.status_code == 303
    ((_topic, answer),) = published(console, ReferralAnswered)
    assert answer.status.value == "rejected" and answer.reason.value == "no_capacity"
    # a reject without a reason is refused with the field named, nothing published
    console.store.referrals.set(AGENCY, "CASE-TEST-1", "REF-TEST-1", answer.status)
    bad = console.http.post(
        "/console/referrals/REF-TEST-1/answer",
        data={"status": "accepted", "csrf_token": token},
    )
    assert bad.status_code == 303
    shown = console.http.get("/console/referrals").text
    assert "flash error" in shown
    assert len(published(console, ReferralAnswered)) == 1


def test_another_agencys_delivery_is_not_found(console: Console) -> None:
    token = console.login(agency_id="HL-TEST-OTHER")
    got = console.http.post("/console/ack/DLV-1", data={"csrf_token": token})
    assert got.status_code == 404 and console.sink.sent == []


def test_the_coordination_office_sees_overdue_and_escalated_items_and_figures(
    console: Console,
) -> None:
    console.login(
        agency_id=COORD, agency_type="coordination_office", roles=("coordination_officer",)
    )
    page = console.http.get("/console/oversight")
    assert page.status_code == 200
    assert "转介逾期" in page.text and "未确认预警升级" in page.text
    assert "督导统计" in page.text and "卫生健康" in page.text  # the health row
    # an agency that is not the coordination office may not
    console.login()
    assert console.http.get("/console/oversight").status_code == 403


def test_pages_name_no_other_host_and_their_assets_are_served(console: Console) -> None:
    console.login()
    for path in ("/console/login", "/console/inbox", "/console/referrals"):
        html = console.http.get(path).text
        urls = references(html)
        assert external(urls) == [], path
        for url in urls:
            if url.startswith("/console/static/"):
                asset = console.http.get(url)
                assert asset.status_code == 200, url
                if url.endswith(".css"):
                    assert external(css_references(asset.text)) == []
                if url.endswith(".js"):
                    assert "http://" not in asset.text and "https://" not in asset.text
    csp = console.http.get("/console/inbox").headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp


def test_a_form_body_over_the_cap_is_refused(console: Console) -> None:
    token = console.login()
    got = console.http.post("/console/ack/DLV-1", data={"csrf_token": token, "note": "x" * 70_000})
    assert got.status_code == 413 and console.sink.sent == []


def test_a_drill_is_marked_as_a_drill(console: Console) -> None:
    console.login()
    entry = console.store.get(AGENCY, "DLV-1")
    assert entry is not None and entry.alert is not None
    entry.alert.drill = True  # as the gateway's store marks an exercise alert
    html = console.http.get("/console/inbox").text
    card = re.search(r'<article class="([^"]*)" id="case-CASE-TEST-1"', html)
    assert card and "drill" in card.group(1).split()
    assert "演练" in html


def test_police_see_the_health_anomalies_and_no_one_else_does(console: Console) -> None:
    console.store.add_anomaly(
        anomaly("ANOM-TEST-9", hospital_id="HOSP-TEST-9"), "ev-9", datetime(2030, 1, 2, tzinfo=UTC)
    )
    console.login(agency_id="PS-TEST-1", agency_type="police", roles=("police_officer",))
    zh = console.http.get("/console/anomalies")
    assert zh.status_code == 200, zh.text
    assert 'href="/console/anomalies"' in zh.text
    assert "健康档案异常" in zh.text and "出生证明无对应分娩记录" in zh.text and "严重" in zh.text
    row = zh.text[zh.text.index('id="anomaly-ANOM-TEST-9"') :]
    assert "HOSP-TEST-9" in row and "TEST-ID-0007" in row
    assert "CERT-TEST-1" in row and "evt-certificate-test-1, evt-admission-test-1" in row
    en = console.http.get("/console/anomalies?lang=en")
    assert "Birth certificate without a delivery" in en.text and "critical" in en.text
    # A hospital, a school and the coordination office: no nav entry, the page is 403.
    for agency_id, agency_type, roles in (
        (AGENCY, "health", ("agency_caseworker", "hospital_system")),
        ("EDU-TEST-1", "education", ("agency_caseworker", "mandatory_reporter")),
        (COORD, "coordination_office", ("coordination_officer",)),
    ):
        console.login(agency_id=agency_id, agency_type=agency_type, roles=roles)
        inbox = console.http.get("/console/inbox")
        assert inbox.status_code == 200 and "/console/anomalies" not in inbox.text, agency_id
        page = console.http.get("/console/anomalies")
        assert page.status_code == 403 and "HOSP-TEST-9" not in page.text, agency_id
