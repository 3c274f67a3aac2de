"""The review page's split, and the supervisor's case file (photos, notices 督办, archive
export) and evaluation page, driven as a person would in both languages, once at phone
width: each test checks the result against the real services."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from govctl.processes import Stack
from shared.places import Level, load_demo_registry
from tests.browser.conftest import bearer
from tests.browser.test_pages import heading, shot, sign_in, tiny_png

pytestmark = pytest.mark.browser

T = TypeVar("T")
VIEWS = [pytest.param("zh", id="zh-phone"), pytest.param("en", id="en")]
DISPATCHER = bearer("dsp-split", "dispatcher", "350300")
SUPERVISOR = bearer("sup-1", "supervisor", "350300")
CITY_TZ = ZoneInfo("Asia/Shanghai")


def eventually(probe: Callable[[], T | None], timeout: float = 45.0) -> T:
    until = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > until:
            raise AssertionError(f"not reached within {timeout}s: {probe}")
        time.sleep(0.5)


def get(stack: Stack, service: str, path: str, headers: dict[str, str]) -> Any:
    r = httpx.get(f"{stack.url(service)}/api{path}", headers=headers, timeout=30)
    return r.json() if r.status_code == 200 else None


def unit(index: int) -> tuple[str, dict[str, float]]:
    place = load_demo_registry().by_level(Level.UNIT)[index]
    lon, lat = place.point or (0.0, 0.0)
    return place.code, {"lon": lon, "lat": lat}


def grid_report(stack: Stack, unit_code: str, body: dict[str, Any]) -> str:
    worker = bearer(f"gw-{unit_code[:15]}", "grid_worker", unit_code[:15])
    r = httpx.post(f"{stack.url('intake')}/api/reports", headers=worker, timeout=10,
                   json={"external_ref": f"browser-{uuid.uuid4()}", **body})
    r.raise_for_status()
    return str(r.json()["case_id"])


def fits_the_phone(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def phone(request: pytest.FixtureRequest) -> bool:
    return "phone" in request.node.name


# -- review: a merged report split back out --------------------------------------------------

def merged_pair(stack: Stack, index: int, category: str, text: str) -> tuple[str, str]:
    """A case, and a report "同上" on its very spot that a dispatcher confirmed into it."""
    code, where = unit(index)
    primary = grid_report(stack, code, {"category": category, "description": text,
                                        "location": where})
    eventually(lambda: get(stack, "dedup", f"/dedup/cases/{primary}", DISPATCHER))
    duplicate = grid_report(stack, code, {"category": category, "description": "同上",
                                          "location": where})
    eventually(lambda: any(i["report_case_id"] == duplicate for i in
                           get(stack, "dedup", "/dedup/review?limit=500", DISPATCHER)["items"]))
    r = httpx.post(f"{stack.url('dedup')}/api/dedup/review/{duplicate}/confirm", timeout=30,
                   headers=DISPATCHER, json={"case_id": primary})
    assert r.status_code == 200, r.text
    return primary, duplicate


@pytest.mark.parametrize("lang", VIEWS)
def test_dispatcher_splits_a_merged_report_back_out(platform: Stack, page: Any, lang: str,
                                                    request: pytest.FixtureRequest) -> None:
    category, text, remark = (
        ("urban.graffiti", "地下通道墙面被大面积涂鸦，还写了小广告电话", "不是同一处")
        if lang == "zh" else
        ("environment.illegal_dumping", "Builders' rubble dumped on the river bank overnight",
         "A different place"))
    primary, duplicate = merged_pair(platform, 900 if lang == "zh" else 1000, category, text)
    sign_in(page, platform, "dispatcher-350300", lang)
    heading(page, "review.html", lang)
    case = page.locator(f"#merged [data-merged-case='{primary}']")
    case.wait_for(timeout=45000)
    case.locator("button.show-reports").click()
    row = case.locator(f"[data-report-case='{duplicate}']")
    row.wait_for()
    assert case.locator(f"[data-report-case='{primary}'] button.split").count() == 0
    assert text in (case.text_content() or "")  # the reports are shown as intake has them
    row.locator("input.split-remark").fill(remark)
    row.locator("button.split").click()
    page.locator(f"#split-result [data-split='{duplicate}']").wait_for(timeout=30000)
    row.wait_for(state="detached")
    if phone(request):
        assert fits_the_phone(page)
    shot(page, f"review-split-{request.node.callspec.id}")
    # The real services agree: the report is a case of its own again, with the remark.
    own = get(platform, "dedup", f"/dedup/cases/{duplicate}", DISPATCHER)
    assert own["case_id"] == duplicate and own["status"] == "registered"
    assert own["decision"]["reason"] == "split" and own["decision"]["remark"] == remark
    left = get(platform, "dedup", f"/dedup/cases/{primary}", DISPATCHER)
    assert [r["report_case_id"] for r in left["reports"]] == [primary]
    # The case leaves the list when the read model counts one report again (no reload).
    case.wait_for(state="detached", timeout=45000)


# -- the supervisor's case file -------------------------------------------------------------

def open_case(page: Any, case_id: str) -> None:
    page.fill("#case-id", case_id)
    page.click("#open")
    page.wait_for_selector("#timeline li")


def supervision_file(stack: Stack, case_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = get(stack, "supervision",
                                       f"/supervision/cases/{case_id}/file", SUPERVISOR)
    return found


@pytest.mark.parametrize("lang", VIEWS)
def test_supervisor_sees_the_reports_photos(platform: Stack, page: Any, lang: str,
                                            request: pytest.FixtureRequest) -> None:
    code, where = unit(1100 if lang == "zh" else 1200)
    worker = bearer(f"gw-{code[:15]}", "grid_worker", code[:15])
    up = httpx.post(f"{platform.url('intake')}/api/attachments", headers=worker, timeout=10,
                    files={"file": ("scene.png", tiny_png(), "image/png")})
    up.raise_for_status()
    case_id = grid_report(platform, code, {
        "category": "urban.abandoned_vehicle", "location": where,
        "description": f"僵尸车停在消防通道旁半年 {lang}", "attachments": [up.json()["ref"]]})
    eventually(lambda: supervision_file(platform, case_id))
    sign_in(page, platform, "supervisor-350300", lang)
    heading(page, "casefile.html", lang)
    open_case(page, case_id)
    # The thumbnail is the uploaded picture itself (2x2 pixels), fetched through the portal.
    page.wait_for_function("""() => { const i = document.querySelector('#photos img.thumb');
        return i && i.complete && i.naturalWidth === 2; }""", timeout=30000)
    if phone(request):
        assert fits_the_phone(page)
    shot(page, f"casefile-photos-{request.node.callspec.id}")


def open_case_with_department(stack: Stack, skip: int) -> dict[str, Any]:
    items = get(stack, "projections", "/cases?status=dispatched&limit=50", SUPERVISOR)["items"]
    return dict(items[skip])


@pytest.mark.parametrize("lang", VIEWS)
def test_supervisor_issues_a_notice_and_sees_the_answer(
        platform: Stack, page: Any, lang: str, request: pytest.FixtureRequest) -> None:
    case = open_case_with_department(platform, 0 if lang == "zh" else 1)
    case_id, department = str(case["case_id"]), case["department"]
    reason = f"{'请说明超期原因并限期办结' if lang == 'zh' else 'Explain the delay'} {uuid.uuid4()}"
    respond_by = (datetime.now(CITY_TZ) + timedelta(days=3)).replace(
        hour=17, minute=30, second=0, microsecond=0)
    sign_in(page, platform, "supervisor-350300", lang)
    open_case(page, case_id)
    page.fill("#notice-reason", reason)
    page.fill("#notice-respond-by", respond_by.strftime("%Y-%m-%dT%H:%M"))
    page.click("#issue-notice")
    notice = page.locator("#notices [data-notice]", has_text=reason)
    notice.wait_for(timeout=30000)
    assert notice.get_attribute("data-state") == "waiting"
    notice_id = notice.get_attribute("data-notice")
    # The department answers (its staff, through the service); the page follows by itself.
    answer = "已于今日完成清理" if lang == "zh" else "Cleared this morning"
    staff = bearer(f"staff-{department}", "department_staff", "350300", department)
    r = httpx.post(f"{platform.url('supervision')}/api/supervision/cases/{case_id}/notices/"
                   f"{notice_id}/response", headers=staff, json={"response": answer}, timeout=30)
    assert r.status_code == 200, r.text
    page.locator(f"#notices [data-notice='{notice_id}'][data-state='answered']",
                 has_text=answer).wait_for(timeout=45000)
    if phone(request):
        assert fits_the_phone(page)
    shot(page, f"casefile-notice-{request.node.callspec.id}")
    kept = eventually(lambda: (supervision_file(platform, case_id) or {})
                      .get("state", {}).get("notices", {}).get(notice_id))
    assert kept["reason"] == reason and kept["department"] == department
    assert datetime.fromisoformat(kept["respond_by"]) == respond_by


def closed_case(stack: Stack) -> str:
    items = get(stack, "projections", "/cases?status=closed&limit=1", SUPERVISOR)["items"]
    return str(items[0]["case_id"])


@pytest.mark.parametrize("lang", VIEWS)
def test_supervisor_prints_and_downloads_the_archive(
        platform: Stack, page: Any, lang: str, request: pytest.FixtureRequest) -> None:
    case_id = closed_case(platform)
    sign_in(page, platform, "supervisor-350300", lang)
    open_case(page, case_id)
    assert page.locator("#issue-notice").count() == 0  # a closed case takes no notice
    with page.expect_download(timeout=120000) as download:
        page.click("#export-pdf")
    assert download.value.suggested_filename == f"case-{case_id}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    with page.context.expect_page(timeout=60000) as opened:
        page.click("#export-html")
    printable = opened.value
    printable.wait_for_selector("h1", timeout=30000)
    assert "一件一档" in (printable.text_content("h1") or "")
    assert case_id in printable.content()
    if phone(request):
        assert fits_the_phone(page)
    shot(printable, f"archive-print-{request.node.callspec.id}")


# -- evaluation by quality ------------------------------------------------------------------

Scores = dict[str, float | None]


def shown_scores(page: Any) -> Scores:
    rows = page.eval_on_selector_all(
        "#groups tr[data-group]", "rows => rows.map(r => [r.dataset.group, "
        "r.querySelector('[data-score]').dataset.score])")
    return {code: float(score) if score else None for code, score in rows}


def service_scores(stack: Stack, query: str) -> Scores:
    answer = get(stack, "supervision", f"/supervision/evaluation?{query}", SUPERVISOR)
    return {code: g["score"] for code, g in answer["groups"].items()}


def same_as_service(page: Any, stack: Stack, query: str) -> Scores:
    """The page's figures equal the service's (both follow new events, so ask until equal)."""
    def equal() -> Scores | None:
        shown = shown_scores(page)
        return shown if shown and shown == service_scores(stack, query) else None
    return eventually(equal)


@pytest.mark.parametrize("lang", VIEWS)
def test_supervisor_reads_the_evaluation_by_department_and_area(
        platform: Stack, page: Any, lang: str, request: pytest.FixtureRequest) -> None:
    sign_in(page, platform, "supervisor-350300", lang)
    with page.expect_navigation():
        page.click("nav a[href='evaluation.html']")
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("main h1") == ("跟踪问效（解决质量评价）" if lang == "zh"
                                            else "Evaluation by quality")
    page.wait_for_selector("#groups tr[data-group]")
    departments = same_as_service(page, platform, "by=department")
    assert {"urban_mgmt"} <= set(departments)
    page.click("#by-area")
    page.wait_for_selector("#level:not([hidden])")
    districts = same_as_service(page, platform, "by=area&level=2")
    assert districts and all(code.startswith("3503") and len(code) == 6 for code in districts)
    page.select_option("#level", "3")
    towns = same_as_service(page, platform, "by=area&level=3")
    assert all(len(code) == 9 and code[:6] in districts for code in towns)
    assert page.evaluate("echarts.getInstanceByDom(document.querySelector('#scores'))"
                         ".getOption().series[0].data.length") > 0
    if phone(request):
        assert fits_the_phone(page)
    shot(page, f"evaluation-{request.node.callspec.id}")
