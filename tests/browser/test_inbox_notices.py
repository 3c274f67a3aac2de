"""The department answers supervision notices (督办) on its inbox page: a supervisor issues
two notices through the API while the department's staff has the inbox open; they appear
without a reload, one turns overdue when the driven clock passes its deadline, the staff
answers both, and each leaves the open list answered (on time, or late). The supervision
API must hold the typed responses. Both languages, Chinese at phone width."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from govctl.processes import Stack
from shared.places import Level, load_demo_registry
from tests.browser.conftest import bearer
from tests.browser.test_pages import heading, shot, sign_in

pytestmark = pytest.mark.browser

T = TypeVar("T")
VIEWS = [pytest.param("zh", id="zh-phone"), pytest.param("en", id="en")]
SUPERVISOR = bearer("sup-notices", "supervisor", "350300")
STAFF_IDENTITY = "department_staff-350300-urban_mgmt"
ADMIN = bearer("admin-notices", "administrator", "350300")
TEXT = {
    "zh": {"title": "小区北门垃圾堆积", "description": "北门垃圾桶旁堆满装修垃圾，三天无人清运",
           "due": "请说明清运安排并于期限前答复", "late": "群众再次来电，请立即说明原因",
           "on_time": "已安排环卫车今日下午清运", "overdue": "已清运完毕，逾期原因为车辆检修"},
    "en": {"title": "Rubbish piling up at the north gate",
           "description": "Renovation rubbish heaped by the north gate bins for three days",
           "due": "Say when the rubbish will be collected", "late": "Residents called again: why?",
           "on_time": "A collection lorry is booked for this afternoon",
           "overdue": "Collected; the lorry was in for repairs"},
}


def eventually(probe: Callable[[], T | None], timeout: float = 45.0) -> T:
    until = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > until:
            raise AssertionError(f"not reached within {timeout}s: {probe}")
        time.sleep(0.5)
    return found


def get(stack: Stack, service: str, path: str, headers: dict[str, str]) -> Any:
    r = httpx.get(f"{stack.url(service)}/api{path}", headers=headers, timeout=30)
    return r.json() if r.status_code == 200 else None


def fits_the_phone(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def dispatched_garbage_case(stack: Stack, lang: str) -> str:
    """A new exposed-rubbish case (the responsibility list sends it to urban_mgmt) that
    supervision already watches."""
    place = load_demo_registry().by_level(Level.UNIT)[1300 if lang == "zh" else 1400]
    lon, lat = place.point or (0.0, 0.0)
    worker = bearer(f"gw-{place.code[:15]}", "grid_worker", place.code[:15])
    r = httpx.post(f"{stack.url('intake')}/api/reports", headers=worker, timeout=10, json={
        "external_ref": f"notices-{uuid.uuid4()}", "category": "urban.garbage",
        "title": TEXT[lang]["title"], "location": {"lon": lon, "lat": lat},
        "description": f"{TEXT[lang]['description']} {uuid.uuid4()}"})
    r.raise_for_status()
    case_id = str(r.json()["case_id"])
    watch = eventually(lambda: get(stack, "supervision", f"/supervision/cases/{case_id}",
                                   SUPERVISOR))
    assert watch["department"] == "urban_mgmt"
    return case_id


def issue(stack: Stack, case_id: str, reason: str, respond_by: datetime) -> str:
    r = httpx.post(f"{stack.url('supervision')}/api/supervision/cases/{case_id}/notices",
                   headers=SUPERVISOR, json={"reason": reason,
                                             "respond_by": respond_by.isoformat()}, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()["notice_id"])


def supervision_now(stack: Stack) -> datetime:
    """The supervision service's driven clock (it moves only when told to)."""
    return datetime.fromisoformat(get(stack, "supervision", "/supervision/notices",
                                      SUPERVISOR)["as_of"])


def move_clock(stack: Stack, to: datetime) -> None:
    r = httpx.put(f"{stack.url('supervision')}/api/supervision/clock", headers=ADMIN,
                  json={"now": to.isoformat()}, timeout=60)
    assert r.status_code == 200, r.text


def answer_on_page(page: Any, case_id: str, reason: str, state: str, response: str) -> None:
    card = page.locator(f"#notices-open [data-case='{case_id}'][data-state='{state}']",
                        has_text=reason)
    card.wait_for(timeout=45000)
    card.locator("textarea.notice-response").fill(response)
    card.locator("button.answer-notice").click()
    card.wait_for(state="detached", timeout=30000)


def recorded(stack: Stack, case_id: str) -> dict[str, dict[str, Any]]:
    watch = get(stack, "supervision", f"/supervision/cases/{case_id}", SUPERVISOR)
    return dict(watch["notices"])


@pytest.mark.parametrize("lang", VIEWS)
def test_department_answers_notices_on_the_inbox_page(
        platform: Stack, page: Any, lang: str, request: pytest.FixtureRequest) -> None:
    text = TEXT[lang]
    case_id = dispatched_garbage_case(platform, lang)
    sign_in(page, platform, STAFF_IDENTITY, lang)
    heading(page, "inbox.html", lang)
    page.wait_for_selector("#notices:not([hidden])")
    page.wait_for_selector(f"#items [data-case='{case_id}']", timeout=45000)

    # Issued while the page is open: the live stream brings them in without a reload.
    now = supervision_now(platform)
    due = issue(platform, case_id, text["due"], now + timedelta(days=3))
    late = issue(platform, case_id, text["late"], now + timedelta(minutes=2))
    open_notices = f"#notices-open [data-case='{case_id}']"
    # Two issues, two updates: the page may have refreshed between them.
    for reason in (text["due"], text["late"]):
        page.locator(open_notices, has_text=reason).wait_for(timeout=45000)
    assert page.locator(open_notices, has_text=text["title"]).count() == 2  # the case, named
    move_clock(platform, now + timedelta(minutes=3))  # the second notice's deadline passes
    page.locator(f"{open_notices}[data-state='overdue']", has_text=text["late"]).wait_for(
        timeout=45000)
    if lang == "zh":  # at phone width
        assert fits_the_phone(page)
    shot(page, f"inbox-notices-open-{request.node.callspec.id}")

    answer_on_page(page, case_id, text["due"], "waiting", text["on_time"])
    answer_on_page(page, case_id, text["late"], "overdue", text["overdue"])
    answered = f"#notices-answered [data-case='{case_id}']"
    page.locator(f"{answered}[data-state='answered']", has_text=text["on_time"]).wait_for()
    page.locator(f"{answered}[data-state='late']", has_text=text["overdue"]).wait_for()
    assert page.locator(open_notices).count() == 0
    if lang == "zh":  # at phone width
        assert fits_the_phone(page)
    shot(page, f"inbox-notices-answered-{request.node.callspec.id}")

    # The supervision service recorded the typed responses, on time and late.
    notices = recorded(platform, case_id)
    assert notices[due]["response"] == text["on_time"]
    assert notices[late]["response"] == text["overdue"]
    listed = get(platform, "supervision", "/supervision/notices?department=urban_mgmt"
                                          "&state=answered&limit=500", SUPERVISOR)["items"]
    mine = {n["notice_id"]: n for n in listed if n["case_id"] == case_id}
    assert (mine[due]["on_time"], mine[late]["on_time"]) == (True, False)
