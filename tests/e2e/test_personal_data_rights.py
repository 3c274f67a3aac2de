"""A reporter's contact on the running platform: read in plain only by the roles that call
back, each reading recorded in the case file; erased on request by an administrator, after
which nothing of the person can be read and the case file still verifies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from govctl.processes import Stack
from tests.e2e.conftest import ADMIN, LEADER, auth, eventually

pytestmark = pytest.mark.e2e

PHONE, ID_NUMBER = "13700005555", "350302198807150012"
OPERATOR = auth("op-rights", "hotline_operator", "350300", "话务员")
SUPERVISOR = auth("sup-rights", "supervisor", "350300", "督查员")
OTHER_TOWN_OPERATOR = auth("op-b", "hotline_operator", "350302002", "凤凰山话务员")
OTHER_TOWN_ADMIN = auth("admin-b", "administrator", "350302002", "凤凰山管理员")
UNIT_A = "350302001001001001"
ADMIN_ID = "admin-1"  # tests.e2e.conftest.ADMIN


def hotline_report(stack: Stack, caller: dict[str, str]) -> dict[str, Any]:
    n = uuid.uuid4().hex[:10]
    body = {"work_order_no": f"GD-R-{n}", "call_time": "2026-03-02T09:05:00+08:00",
            "caller": caller, "unit_code": UNIT_A, "content": f"夜间施工噪音扰民 {n}",
            "hotline_category": "生态环境/大气污染/餐饮油烟"}
    r = httpx.post(f"{stack.url('intake')}/api/channels/hotline_12345", json=body,
                   headers=OPERATOR)
    assert r.status_code == 202, r.text
    return dict(r.json())


def supervision_file(stack: Stack, case_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{stack.url('supervision')}/api/supervision/cases/{case_id}/file",
                  headers=LEADER)
    return r.json() if r.status_code == 200 else None


def file_line(stack: Stack, report_id: str, event_type: str) -> dict[str, Any] | None:
    """The case file line of this kind, once supervision has archived it."""
    case_id = httpx.get(f"{stack.url('intake')}/api/reports/{report_id}",
                        headers=LEADER).json()["case_id"]
    found = supervision_file(stack, case_id)
    return next((e for e in (found or {}).get("entries", [])
                 if e["event_type"] == event_type and e["details"].get("report_id") == report_id),
                None)


def unmask(stack: Stack, report_id: str, headers: dict[str, str],
           purpose: str | None = "回访：核实处理结果") -> httpx.Response:
    body = {} if purpose is None else {"purpose": purpose}
    return httpx.post(f"{stack.url('intake')}/api/reports/{report_id}/contact/unmask",
                      json=body, headers=headers)


def test_unmasking_needs_a_role_a_purpose_and_the_area_and_is_recorded(stack: Stack) -> None:
    rid = hotline_report(stack, {"name": "赵六", "phone": PHONE})["report_id"]
    assert unmask(stack, rid, LEADER).status_code == 403
    assert unmask(stack, rid, ADMIN).status_code == 403
    assert unmask(stack, rid, OTHER_TOWN_OPERATOR).status_code == 404  # as if absent
    assert unmask(stack, rid, OPERATOR, purpose=None).status_code == 422
    plain = unmask(stack, rid, OPERATOR)
    assert plain.status_code == 200 and plain.json()["phone"] == PHONE
    assert plain.headers["cache-control"] == "no-store"
    assert unmask(stack, rid, SUPERVISOR).json()["name"] == "赵六"
    line = eventually(lambda: file_line(stack, rid, "case.contact_unmasked"), timeout=90)
    assert line["actor"]["id"] == "op-rights"
    assert line["details"]["purpose"] == "回访：核实处理结果"
    assert line["details"]["report_id"] == rid
    assert PHONE not in json.dumps(line) and "赵六" not in json.dumps(line)


def test_an_erased_person_can_no_longer_be_read_and_the_file_still_verifies(
        stack: Stack) -> None:
    rid = hotline_report(stack, {"name": "钱七", "phone": PHONE, "id_number": ID_NUMBER}
                         )["report_id"]
    second = hotline_report(stack, {"id_number": ID_NUMBER})["report_id"]  # the same person
    eventually(lambda: file_line(stack, rid, "case.reported"), timeout=90)
    assert unmask(stack, rid, OPERATOR).json()["id_number"] == ID_NUMBER
    erase = f"{stack.url('intake')}/api/reports/{rid}/contact/erase"
    assert httpx.post(erase, json={}, headers=OPERATOR).status_code == 403
    assert httpx.post(erase, json={}, headers=OTHER_TOWN_ADMIN).status_code == 404
    done = httpx.post(erase, json={"basis": "person_request"}, headers=ADMIN)
    assert done.status_code == 200, done.text
    assert sorted(done.json()["reports"]) == sorted([rid, second])
    for report_id in (rid, second):
        report = httpx.get(f"{stack.url('intake')}/api/reports/{report_id}", headers=LEADER)
        assert report.json()["contact"]["erased"] is True
        assert report.json()["contact"]["phone"] == report.json()["contact"]["name"] == ""
        assert unmask(stack, report_id, OPERATOR).status_code == 410
    line = eventually(lambda: file_line(stack, rid, "case.person_erased"), timeout=90)
    assert line["actor"]["id"] == ADMIN_ID and line["details"]["basis"] == "person_request"
    case_id = httpx.get(f"{stack.url('intake')}/api/reports/{rid}",
                        headers=LEADER).json()["case_id"]
    whole = json.dumps(supervision_file(stack, case_id), ensure_ascii=False)
    assert PHONE not in whole and ID_NUMBER not in whole and "钱七" not in whole
    verified = httpx.get(f"{stack.url('supervision')}/api/supervision/cases/{case_id}/verify",
                         headers=LEADER)
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text


def test_a_person_is_found_for_erasure_by_what_identifies_them(stack: Stack) -> None:
    phone = "1360000" + str(uuid.uuid4().int)[:4]
    rid = hotline_report(stack, {"phone": phone})["report_id"]
    persons = f"{stack.url('intake')}/api/persons/erase"
    assert httpx.post(persons, json={"name": "孙八"}, headers=ADMIN).status_code == 422
    assert httpx.post(persons, json={"phone": phone}, headers=OTHER_TOWN_ADMIN
                      ).status_code == 403  # their reports lie in another town
    done = httpx.post(persons, json={"phone": phone, "basis": "retention_expired"},
                      headers=ADMIN)
    assert done.status_code == 200 and done.json()["reports"] == [rid]
    assert unmask(stack, rid, OPERATOR).status_code == 410
    assert httpx.post(persons, json={"phone": "13600009999"}, headers=ADMIN
                      ).status_code == 404

