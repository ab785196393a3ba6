"""The agency console in a real browser: Debian's chromium driven by Playwright, against
the real broker, the real Keycloak, and real intake, fan-out, referral router and gateway
processes. Staff log in by the code flow with PKCE at Keycloak's own login page.

Every request the browser makes is watched: one to any host but 127.0.0.1 is aborted and
recorded, and the module ends by asserting there was none (the console and /docs work on
a closed network). Each page is saved as a screenshot under build/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from homeward import paths
from homeward.agencies import AgencyType, dump_directory
from homeward.codec import Codec
from homeward.events import (
    AgencyAcknowledgement,
    AlertIssued,
    ChildDescription,
    Location,
    ReferralRequested,
    RescueNotified,
    ResponsibleOfficer,
)
from homeward.events.base import utcnow
from homeward.idp.realm import password_of, staff_username
from homeward.kafka import producer, send_all
from homeward_demo.processes import ServiceProcess
from homeward_intake.client import IntakeClient
from tests.fixtures.bus import Bus, principal_of
from tests.fixtures.gateway import GatewayProcess
from tests.fixtures.gateway import spawn as spawn_gateway
from tests.fixtures.idp import Idp
from tests.integration.data_law_flows import AGENCIES, CHILD, FIRST
from tests.integration.support import TopicReader, service
from tests.unit.fanout.geo import CENTRE
from tests.unit.gateway import samples as gateway_samples

pytestmark = pytest.mark.integration
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("HOMEWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = paths.REPO_ROOT / "build" / "screenshots"
SECOND_CIVIL = [a.id for a in AGENCIES if a.type == AgencyType.CIVIL_AFFAIRS][1]
PLACE = Location(
    latitude=CENTRE[0], longitude=CENTRE[1], description="示例公园东门 (Fictional Park)"
)
OFFICER = ResponsibleOfficer(
    officer_id="OFF-CON-1",
    name="示例警官 Officer Example",
    unit="示例县公安局",
    phone="000-0000-0000",
)


@dataclass
class World:
    bus: Bus
    gateway: GatewayProcess
    intake_url: str
    idp: Idp
    acks: TopicReader
    inboxes: TopicReader
    latencies_ms: list[float] = field(default_factory=list)

    def police(self) -> IntakeClient:
        return IntakeClient(
            self.intake_url, timeout=30, token_provider=self.idp.client("police-case-system")
        )


def case_id() -> str:
    return f"POL-0001-CON-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def world(
    bus_factory_module: Any, tmp_path_factory: pytest.TempPathFactory, idp: Idp
) -> Iterator[World]:
    bus: Bus = bus_factory_module()
    tmp: Path = tmp_path_factory.mktemp("console")
    directory = str(tmp / "agencies.csv")
    dump_directory(AGENCIES, directory)
    started: list[ServiceProcess] = []

    def start(module: str, marker: str, **env: str) -> ServiceProcess:
        svc = service(["-m", module], bus.env(principal_of(module), **env), tmp / f"{module}.log")
        started.append(svc)
        return svc.start(marker)

    gateway: GatewayProcess | None = None
    acks = TopicReader(bus.settings, [bus.topic("alert_acks")])
    inboxes = TopicReader(bus.settings, [bus.topology.inbox(AgencyType.CIVIL_AFFAIRS).name])
    try:
        start(
            "homeward_fanout",
            "FANOUT_READY",
            HOMEWARD_FANOUT_DIRECTORY=directory,
            HOMEWARD_FANOUT_TICK_INTERVAL_SECONDS="0.5",
            # Unacknowledged deliveries escalate to the coordination office quickly, so
            # its overdue list has something in it within the test.
            HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="3",
            HOMEWARD_FANOUT_MAX_RESENDS="0",
        )
        start(
            "homeward_referrals",
            "REFERRALS_READY",
            HOMEWARD_REFERRALS_DIRECTORY=directory,
            HOMEWARD_REFERRALS_TICK_INTERVAL_SECONDS="0.5",
            # The family-search notice goes overdue in seconds: the overdue list's item.
            HOMEWARD_REFERRALS_DEADLINES="family_search_notice=PT5S/P7D",
        )
        intake = start(
            "homeward_intake",
            "INTAKE_READY",
            HOMEWARD_INTAKE_PORT="0",
            HOMEWARD_OIDC_ISSUER=idp.issuer,
        )
        intake_url = intake.ready_line().split()[-1]
        gateway = spawn_gateway(
            bus.env(
                "gateway",
                HOMEWARD_GATEWAY_PORT="0",
                HOMEWARD_OIDC_ISSUER=idp.issuer,
                HOMEWARD_GATEWAY_LOG_LEVEL="WARNING",
                HOMEWARD_CONSOLE_SESSION_SECRET=f"test-{uuid.uuid4().hex}",
                HOMEWARD_CONSOLE_INTAKE_URL=intake_url,
            ),
            tmp / "gateway.log",
        )
        gateway.idp = idp
        gateway.wait_for("GATEWAY_READY")
        yield World(bus, gateway, intake_url, idp, acks, inboxes)
    finally:
        if gateway is not None:
            gateway.stop()
        for svc in reversed(started):
            svc.stop()
        acks.close()
        inboxes.close()


@dataclass
class Browser:
    context: Any
    outside: list[str]

    def page(self) -> Any:
        return self.context.new_page()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (scripts/ensure_chromium.sh)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    outside: list[str] = []
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            locale="zh-CN",
            viewport={"width": 1280, "height": 900},
        )

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith("data:") or host == "127.0.0.1":
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        try:
            yield Browser(context, outside)
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def shot(page: Any, name: str) -> Path:
    path = SCREENSHOTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def reload_until(page: Any, selector: str, what: str, timeout_s: float = 60) -> None:
    """Reload the page until `selector` is on it (pages that are not live)."""
    deadline = time.monotonic() + timeout_s
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{what} never showed"
        page.wait_for_timeout(500)  # a poll interval; the condition decides
        page.reload()


def login(world: World, browser: Browser, agency_id: str) -> Any:
    """A fresh page logged in as that agency's staff at Keycloak's own login form."""
    browser.context.clear_cookies()
    page = browser.page()
    page.goto(f"{world.gateway.url}/console/login")
    page.click("#login-button")
    page.wait_for_selector("#username", timeout=30_000)
    username = staff_username(agency_id)
    page.fill("#username", username)
    page.fill("#password", password_of(username))
    page.click("#kc-login")
    page.wait_for_url("**/console/inbox", timeout=30_000)
    return page


def alert(case: str, name: str = "测试儿童甲 Test Child A") -> AlertIssued:
    return AlertIssued(
        case_id=case,
        issuing_unit="示例县公安局",
        chief_officer=OFFICER,
        child=ChildDescription(
            name=name, sex="female", age_years=7, height_cm=120, clothing="红色外套 red coat"
        ),
        last_seen=PLACE,
        last_seen_at=utcnow() - timedelta(minutes=20),
        public_summary="测试儿童甲，7岁，红色外套 (a test alert)",
    )


def wait_for_ack(world: Any, case: str, agency_id: str, what: str) -> None:
    """The console's AgencyAcknowledgement of the case by the agency, on alerts.acks.v1."""
    world.acks.until(
        lambda r: any(
            isinstance(d.event, AgencyAcknowledgement)
            and d.event.case_id == case
            and d.event.agency_id == agency_id
            for _t, d in r.decoded
        ),
        60,
        what,
    )


def test_login_sets_a_secure_httponly_lax_session_cookie(world: World, browser: Browser) -> None:
    page = browser.page()
    page.goto(f"{world.gateway.url}/console/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, "login")
    page.close()
    page = login(world, browser, FIRST[AgencyType.EDUCATION])
    (cookie,) = [c for c in browser.context.cookies() if c["name"] == "homeward_console"]
    assert cookie["secure"] is True and cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax" and cookie["path"] == "/console"
    # The page's script cannot read it.
    assert "homeward_console" not in page.evaluate("document.cookie")
    page.close()


def test_a_new_alert_arrives_live_and_is_acknowledged_with_one_click(
    world: World, browser: Browser
) -> None:
    school = FIRST[AgencyType.EDUCATION]
    page = login(world, browser, school)
    # The live stream is open before the alert is issued (the page's EventSource).
    page.wait_for_function("document.body.dataset.after !== undefined")
    case = case_id()
    with world.police() as police:
        police.issue_alert(alert(case))
        accepted = time.monotonic()
        page.wait_for_selector(f"#case-{case}", timeout=30_000)
        seen = time.monotonic()
        world.latencies_ms.append((seen - accepted) * 1000)
        card = page.locator(f"#case-{case}")
        assert "测试儿童甲" in card.inner_text() and "示例警官" in card.inner_text()
        # A sighting shows in place, in the same card.
        police.report_sighting(
            case,
            sighting_id=f"SGT-{uuid.uuid4().hex[:6]}",
            location=PLACE.model_copy(update={"description": "示例汽车站 (Fictional Bus Station)"}),
            seen_at=utcnow().isoformat(),
            reporter_kind="public",
            description="一名路人看见了她 (a passer-by saw her)",
        )
        page.wait_for_selector(f"#case-{case} .kind-sighting", timeout=30_000)
        assert page.locator(f"#case-{case}").count() == 1
        shot(page, "inbox-live")

        # One click acknowledges the alert delivery.
        page.locator(f"#case-{case} .kind-alert button.ack-button").click()
        page.wait_for_selector(f"#case-{case} .kind-alert [data-acked='true']", timeout=30_000)
        wait_for_ack(world, case, school, "the console's AgencyAcknowledgement on alerts.acks.v1")
        ack = next(
            d.event for _t, d in world.acks.decoded if getattr(d.event, "case_id", "") == case
        )
        assert ack.actor is not None and ack.actor.principal == staff_username(school)
        shot(page, "inbox-acknowledged")

        # A cancellation closes the card at once, live.
        police.cancel_alert(case, "FOUND", "已找到 (found safe)")
        page.wait_for_selector(f"#case-{case}.closed", timeout=30_000)
        shot(page, "inbox-closed")
    # English on request, remembered by a cookie.
    page.goto(f"{world.gateway.url}/console/inbox?lang=en")
    assert page.locator("h1").inner_text() == "Alert inbox"
    shot(page, "inbox-en")
    page.goto(f"{world.gateway.url}/console/inbox?lang=zh-CN")
    page.close()
    print(f"\nconsole: intake accepted -> card on the page: {world.latencies_ms[0]:.0f} ms")
    (SCREENSHOTS / "console-latency.txt").write_text(
        f"intake accepted -> alert card shown in the browser: {world.latencies_ms[0]:.0f} ms\n"
    )


FOCUSED_ACK = """(dom) => {
    const el = document.activeElement;
    return !!el && el.classList.contains("ack-button") && !!el.closest(dom);
}"""
FOCUS_STYLE = """() => {
    const el = document.activeElement, style = getComputedStyle(el);
    return {
        visible: el.matches(":focus-visible"),
        outlineStyle: style.outlineStyle,
        outlineWidth: style.outlineWidth,
    };
}"""


def test_an_alert_is_acknowledged_by_keyboard_alone_with_a_visible_focus(
    world: World, browser: Browser
) -> None:
    school = FIRST[AgencyType.EDUCATION]
    page = login(world, browser, school)
    page.wait_for_function("document.body.dataset.after !== undefined")
    case = case_id()
    with world.police() as police:
        police.issue_alert(alert(case, name="测试儿童乙 Test Child B"))
    card = f"#case-{case} .kind-alert"
    page.wait_for_selector(f"{card} button.ack-button", timeout=30_000)
    # From the top of the page, Tab only: skip link, nav, language, log out, then the
    # cards, newest first; the new card's acknowledge button is within a few dozen stops.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED_ACK, card):
            break
    else:
        pytest.fail(f"80 Tabs never reached the acknowledge button of {card}")
    focus = page.evaluate(FOCUS_STYLE)
    assert focus["visible"] is True, focus
    assert focus["outlineStyle"] != "none" and focus["outlineWidth"] != "0px", focus
    shot(page, "inbox-keyboard-focus")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{card} [data-acked='true']", timeout=30_000)
    page.wait_for_selector(".flash.ok", timeout=30_000)
    assert page.locator(f"{card} button.ack-button").count() == 0
    wait_for_ack(world, case, school, "the keyboard's AgencyAcknowledgement on alerts.acks.v1")
    shot(page, "inbox-keyboard-acknowledged")
    with world.police() as police:
        police.cancel_alert(case, "FOUND", "已找到 (found safe, test)")
    page.close()


def test_a_post_without_the_csrf_token_is_refused(world: World, browser: Browser) -> None:
    page = login(world, browser, FIRST[AgencyType.EDUCATION])
    for form in ({}, {"csrf_token": "not-the-sessions-token"}):
        got = page.request.post(f"{world.gateway.url}/console/ack/DLV-NONE", form=form)
        assert got.status == 403
        assert "表单已过期" in got.text()
    # Logging out (a form with the token) ends the session here and at the provider.
    page.click("header form button[type=submit]")
    page.wait_for_selector("text=您已退出", timeout=30_000)
    shot(page, "logged-out")
    page.goto(f"{world.gateway.url}/console/inbox")
    page.wait_for_url("**/console/login", timeout=30_000)
    page.close()


def rescue(case: str) -> RescueNotified:
    return RescueNotified(
        case_id=case,
        rescue_id=f"RSC-{case}",
        rescuing_unit="示例县公安局",
        officer=OFFICER,
        person=CHILD,
        rescued_at=utcnow(),
        location=PLACE,
    )


def test_reject_a_referral_with_a_reason_and_it_is_offered_to_the_next_agency(
    world: World, browser: Browser
) -> None:
    first = FIRST[AgencyType.CIVIL_AFFAIRS]
    case = case_id()
    with world.police() as police:
        police.notify_rescue(rescue(case))

    def offered(agency: str, offer: int) -> bool:
        return any(
            isinstance(d.event, ReferralRequested)
            and d.event.case_id == case
            and d.event.rule_id == "welfare_placement"
            and d.event.agency_id == agency
            and d.event.offer == offer
            for _t, d in world.inboxes.decoded
        )

    world.inboxes.until(lambda r: offered(first, 1), 60, "the placement offered to the first")
    page = login(world, browser, first)
    page.goto(f"{world.gateway.url}/console/referrals")
    referral_id = next(
        d.event.referral_id
        for _t, d in world.inboxes.decoded
        if isinstance(d.event, ReferralRequested)
        and d.event.case_id == case
        and d.event.rule_id == "welfare_placement"
    )
    card = page.locator(f"#referral-{referral_id}")
    card.wait_for(timeout=30_000)
    shot(page, "referrals")
    card.locator("select[name=status]").select_option("rejected")
    card.locator("select[name=reason]").select_option("no_capacity")
    card.locator("textarea[name=note]").fill("床位已满 (no bed tonight, test)")
    card.locator("button[type=submit]").click()
    page.wait_for_selector(".flash.ok", timeout=30_000)
    assert card.locator("[data-status='rejected']").count() == 1
    shot(page, "referrals-rejected")
    world.inboxes.until(lambda r: offered(SECOND_CIVIL, 2), 60, "the re-offer to the next agency")
    page.close()
    # The next agency's staff see it in their console.
    page = login(world, browser, SECOND_CIVIL)
    page.goto(f"{world.gateway.url}/console/referrals")
    page.locator(f"#referral-{referral_id}").wait_for(timeout=30_000)
    assert "2" in page.locator(f"#referral-{referral_id} h2").inner_text()
    shot(page, "referrals-reoffered")
    page.close()


def test_the_coordination_office_sees_the_overdue_list_figures_and_a_timeline(
    world: World, browser: Browser
) -> None:
    case = case_id()
    with world.police() as police:
        police.notify_rescue(rescue(case))
    page = login(world, browser, FIRST[AgencyType.COORDINATION_OFFICE])
    page.goto(f"{world.gateway.url}/console/oversight")
    # The family-search notice goes overdue in 5 s (the router's deadline override),
    # and unacknowledged alert deliveries escalate after 3 s: both arrive live.
    page.wait_for_selector(".notice.kind-referral_overdue", timeout=60_000)
    page.reload()
    assert page.locator("table.figures tbody tr").count() >= 1
    shot(page, "oversight")
    page.goto(f"{world.gateway.url}/console/cases?case_id={case}")
    page.wait_for_selector("ol.timeline li", timeout=30_000)
    assert "RescueNotified" in page.locator("ol.timeline").inner_text()
    shot(page, "case-timeline")
    page.close()


def publish_anomaly(bus: Bus, anomaly_id: str) -> None:
    """A health-record anomaly on police.anomalies.v1, as the detector raises it, under
    the detector's own Kafka principal."""
    event = gateway_samples.anomaly(anomaly_id, hospital_id="HOSP-DEMO-1")
    p = producer(bus.settings_for("detector"))
    try:
        rec, _meta = Codec().encode(event, key=anomaly_id, source="/homeward/detector")
        send_all(p, [(bus.topic("anomalies"), rec)])
    finally:
        p.close()


def test_police_see_mandatory_reports_and_acknowledge_one(world: World, browser: Browser) -> None:
    report_id = f"RPT-CON-{uuid.uuid4().hex[:8]}"
    anomaly_id = f"ANOM-CON-{uuid.uuid4().hex[:8]}"
    publish_anomaly(world.bus, anomaly_id)
    reporter = world.idp.client("hospital-system-hosp-demo-1")
    with IntakeClient(world.intake_url, timeout=30, token_provider=reporter) as hospital:
        hospital.file_report(
            report_id=report_id,
            sector="hotel",
            reporter={"name": "测试前台 Test Clerk", "organisation": "示例宾馆", "role": "前台"},
            observed="一名成年人带着一个看起来很害怕的孩子入住 (test)",
            location=PLACE.model_dump(),
            observed_at=utcnow().isoformat(),
            person={"description": "女孩，约10岁 (test)", "sex": "female"},
        )
    page = login(world, browser, "POL-0001")
    page.goto(f"{world.gateway.url}/console/reports")
    reload_until(page, f"#report-{report_id}", "the report on the report desk")
    page.locator(f"#report-{report_id} button").click()
    page.wait_for_selector(f"#report-{report_id} .acked", timeout=30_000)
    shot(page, "reports")
    # The detector's anomalies, police only, from the nav.
    page.click("header nav a[href$='/console/anomalies']")
    page.wait_for_url("**/console/anomalies", timeout=30_000)
    reload_until(page, f"#anomaly-{anomaly_id}", "the anomaly on the anomalies page")
    row = page.locator(f"#anomaly-{anomaly_id}").inner_text()
    assert "HOSP-DEMO-1" in row and "TEST-ID-0007" in row, row
    current = page.locator("header nav a[aria-current='page']").get_attribute("href")
    assert current is not None and current.endswith("/console/anomalies"), current
    shot(page, "anomalies")
    page.close()


def test_the_docs_pages_load_nothing_from_outside(world: World, browser: Browser) -> None:
    page = browser.page()
    for name, url in (("gateway", world.gateway.url), ("intake", world.intake_url)):
        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        shot(page, f"docs-{name}")
    page.close()


def test_nothing_was_loaded_from_another_host(world: World, browser: Browser) -> None:
    # Last in the module: every page above went through the browser's guard.
    assert browser.outside == []
