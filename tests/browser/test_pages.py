"""Every page driven as a person would, in Chinese and in English, in headless Chromium:
sign in by picking a demo identity, fill the forms, press the buttons, and see the page
change without a reload when new events arrive. Screenshots: tests/artifacts/."""

from __future__ import annotations

import struct
import uuid
import zlib
from typing import Any

import httpx
import pytest

from govctl.processes import Stack
from tests.browser.conftest import ARTIFACTS, bearer

pytestmark = pytest.mark.browser

LANGS = ["zh", "en"]
HEADINGS = {
    "report.html": ("网格员上报", "Grid worker's report"),
    "hotline.html": ("12345热线转办登记", "12345 hotline transfer"),
    "inbox.html": ("部门待办", "Department inbox"),
    "review.html": ("疑似重复件审核", "Possible duplicates"),
    "casefile.html": ("案件档案（一件一档）", "Case file"),
    "dashboard.html": ("领导驾驶舱", "Leaders' dashboard"),
}


def sign_in(page: Any, stack: Stack, identity: str, lang: str) -> None:
    """As a person: open the portal, switch language if wanted, pick who you are."""
    page.goto(stack.url("portal") + "/")
    page.wait_for_selector("[data-ready='1'] .identities button")
    if lang == "en":
        page.click("#lang")
        page.wait_for_selector("html[lang='en']")
    with page.expect_navigation():
        page.click(f"button[data-key='{identity}']")
    page.wait_for_selector("body[data-ready='1']")


def heading(page: Any, name: str, lang: str) -> None:
    zh, en = HEADINGS[name]
    assert page.text_content("main h1") == (zh if lang == "zh" else en)


def shot(page: Any, name: str) -> None:
    page.wait_for_timeout(400)  # let ECharts finish its animation before the picture
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def tiny_png() -> bytes:
    """A 2x2 PNG made here (a photo from the scene, as far as the form is concerned)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    raw = b"".join(b"\x00" + b"\xcc\x22\x22" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def click_on_map(page: Any, selector: str = "#map") -> None:
    """Tap the middle of the highlighted grid (or of the map)."""
    box = page.locator(selector).bounding_box()
    point = page.evaluate("""() => {
        const chart = echarts.getInstanceByDom(document.querySelector('#map'));
        const geo = chart.getModel().getComponent('geo');
        const hl = (geo.option.regions || [])[0];
        const region = hl ? geo.coordinateSystem.getRegion(hl.name) : null;
        const c = region ? region.getCenter() : geo.coordinateSystem.getCenter();
        return chart.convertToPixel({geoIndex: 0}, c);
    }""")
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])


@pytest.mark.parametrize("lang", LANGS)
def test_grid_worker_reports_from_the_phone(platform: Stack, page: Any, lang: str) -> None:
    sign_in(page, platform, "grid_worker-350302001001001", lang)
    assert page.url.endswith("/report.html")
    heading(page, "report.html", lang)
    page.wait_for_function("echarts.getInstanceByDom(document.querySelector('#map'))")
    # Different problems in the two languages: the same one twice would be merged by dedup.
    category, title, text = (
        ("urban.road_damage", "路面塌陷", "学校门口路面出现一米宽的坑，雨后积水") if lang == "zh"
        else ("urban.streetlight", "Streetlight out", "Streetlight at the north gate dark all week"))
    page.select_option("#category", category)
    page.fill("#title", title)
    page.fill("#description", text)
    click_on_map(page)
    page.wait_for_function("document.querySelector('#picked').textContent.length > 0")
    page.set_input_files("#photos", files=[{"name": "scene.png", "mimeType": "image/png",
                                            "buffer": tiny_png()}])
    page.wait_for_function("document.querySelector('#photo-list').textContent.includes('att://')")
    page.click("#submit")
    page.wait_for_selector("#accepted")
    case_id = page.text_content("#accepted code")
    assert case_id and uuid.UUID(case_id)
    # The case shows up in the list when its events arrive: no reload.
    page.wait_for_selector(f"#recent [data-case='{case_id}']", timeout=30000)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, f"report-phone-{lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_hotline_operator_registers_a_call(platform: Stack, page: Any, lang: str) -> None:
    sign_in(page, platform, "hotline_operator-350300", lang)
    heading(page, "hotline.html", lang)
    page.fill("#caller_name", "张女士")
    page.fill("#caller_phone", "13800000000")
    category, text = (("environment.noise", "小区旁工地凌晨还在施工，噪音很大") if lang == "zh"
                      else ("urban.bulky_item", "Old sofa left by the bins for a week"))
    page.select_option("#category", category)
    page.fill("#content", text)
    page.fill("#address", "荔城区某小区东侧")
    click_on_map(page)
    page.click("#submit")
    page.wait_for_selector("#accepted")
    case_id = page.text_content("#accepted code")
    page.wait_for_selector(f"#recent [data-case='{case_id}']", timeout=30000)
    shot(page, f"hotline-{lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_department_signs_for_and_handles(platform: Stack, page: Any, lang: str) -> None:
    sign_in(page, platform, "department_staff-350300-urban_mgmt", lang)
    heading(page, "inbox.html", lang)
    page.wait_for_selector("#items [data-status='dispatched']", timeout=30000)
    item = page.locator("#items [data-status='dispatched']").first
    case_id = item.get_attribute("data-case")
    item.locator("button.sign-for").click()
    signed = page.locator(f"#items [data-case='{case_id}'][data-status='signed_for']")
    signed.wait_for(timeout=30000)
    shot(page, f"inbox-{lang}")
    signed.locator("input.result").fill("已到现场处置完毕")
    signed.locator("button.handle").click()
    page.locator(f"#items [data-case='{case_id}']").wait_for(state="detached", timeout=30000)


@pytest.mark.parametrize("lang", LANGS)
def test_dispatcher_reviews_a_possible_duplicate(platform: Stack, page: Any, lang: str) -> None:
    sign_in(page, platform, "dispatcher-350300", lang)
    heading(page, "review.html", lang)
    page.wait_for_selector("#items [data-report]", timeout=30000)
    shot(page, f"review-{lang}")
    first = page.locator("#items [data-report]").first
    report = first.get_attribute("data-report")
    if lang == "zh":
        first.locator("button.reject").click()
    else:
        first.locator("button.merge").first.click()
    page.locator(f"#items [data-report='{report}']").wait_for(state="detached", timeout=30000)


@pytest.mark.parametrize("lang", LANGS)
def test_supervisor_reads_travels_and_verifies_a_file(platform: Stack, page: Any,
                                                      lang: str) -> None:
    sign_in(page, platform, "supervisor-350300", lang)
    heading(page, "casefile.html", lang)
    page.wait_for_selector("#list [data-case]")
    closed = platform_closed_case(platform)
    page.fill("#case-id", closed)
    page.click("#open")
    page.wait_for_selector("#timeline li")
    entries = page.locator("#timeline li").count()
    assert entries >= 5
    page.click("#verify")
    page.wait_for_selector("#verify-result.ok")
    slider = page.locator("#as-of")
    slider.fill("0")
    slider.dispatch_event("change")
    page.wait_for_function(f"document.querySelectorAll('#timeline li.future').length === {entries - 1}")
    shot(page, f"casefile-{lang}")


def platform_closed_case(stack: Stack) -> str:
    leader = bearer("l-1", "leader", "350300")
    r = httpx.get(f"{stack.url('projections')}/api/cases", headers=leader,
                  params={"status": "closed", "limit": 1}, timeout=10)
    return str(r.json()["items"][0]["case_id"])


# Reports at one unit, minutes apart, that dedup must take for new cases, or the total
# does not rise: categories with no relation to each other (matching.category_relation),
# plain text. A random suffix (a uuid) is no help: two uuids share enough hex grams that
# two reports of one category at one spot merged in 211 of 300 tries of the matcher.
UNMISTAKABLY_NEW = {
    "zh": {"category": "market.price", "description": "菜市场三号摊位猪肉缺斤少两"},
    "en": {"category": "order.gambling",
           "description": "Card gambling every night in the tea house back room"},
    "late": {"category": "livelihood.elderly_care",
             "description": "独居老人三天未出门，邻居敲门无人应答"},
}


@pytest.mark.parametrize("lang", LANGS)
def test_leaders_dashboard_updates_live(platform: Stack, page: Any, lang: str) -> None:
    sign_in(page, platform, "leader-350300", lang)
    heading(page, "dashboard.html", lang)
    page.wait_for_selector("[data-kpi='total'] b")
    assert page.locator("#departments tr[data-department]").count() >= 3
    assert page.locator("#children tr[data-area]").count() == 5  # four districts, one county
    assert page.evaluate("echarts.getInstanceByDom(document.querySelector('#map'))"
                         ".getOption().series[0].data.some(d => d.value > 0)")
    before = int(page.text_content("[data-kpi='total'] b") or "0")
    worker = bearer("gw-live", "grid_worker", "350303001001001")
    httpx.post(f"{platform.url('intake')}/api/reports", headers=worker, timeout=10,
               json={**UNMISTAKABLY_NEW[lang], "unit_code": "350303001001001001"}
               ).raise_for_status()
    page.wait_for_function(
        f"Number(document.querySelector(\"[data-kpi='total'] b\").textContent) > {before}",
        timeout=30000)
    shot(page, f"dashboard-{lang}")


def test_the_dashboard_catches_up_with_what_changed_before_its_stream_opened(
        platform: Stack, page: Any) -> None:
    """A case projected between the page's first load and its stream's opening is not
    lost: the page loads again once the stream is open."""
    held: list[Any] = []
    page.route("**/api/projections/stream", lambda route: held.append(route))  # unopened
    sign_in(page, platform, "leader-350300", "zh")
    heading(page, "dashboard.html", "zh")
    page.wait_for_selector("[data-kpi='total'] b")
    before = int(page.text_content("[data-kpi='total'] b") or "0")
    worker = bearer("gw-late", "grid_worker", "350303001001001")
    case_id = httpx.post(
        f"{platform.url('intake')}/api/reports", headers=worker, timeout=10,
        json={**UNMISTAKABLY_NEW["late"], "unit_code": "350303001001001001"}
    ).raise_for_status().json()["case_id"]
    leader = bearer("leader-350300", "leader", "350300")
    projected = f"{platform.url('projections')}/api/cases/{case_id}"
    for _ in range(600):  # projected while no stream was open
        if httpx.get(projected, headers=leader, timeout=10).status_code == 200:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError(f"case {case_id} was never projected")
    assert int(page.text_content("[data-kpi='total'] b") or "0") == before
    for route in held:
        route.continue_()
    page.wait_for_function(
        f"Number(document.querySelector(\"[data-kpi='total'] b\").textContent) > {before}",
        timeout=30000)


def test_town_cadre_sees_only_the_town_on_a_phone(platform: Stack, page: Any) -> None:
    sign_in(page, platform, "leader-350302002", "zh")
    heading(page, "dashboard.html", "zh")
    page.wait_for_selector("#children tr[data-area]")
    areas = page.eval_on_selector_all("#children tr[data-area]", "rows => rows.map(r => r.dataset.area)")
    assert areas and all(a.startswith("350302002") for a in areas)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "dashboard-town-phone-zh")
