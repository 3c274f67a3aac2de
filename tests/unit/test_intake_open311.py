"""Open311 GeoReport v2 on intake, through its HTTP app (no broker): JSON and XML with the
spec's field names, form-encoded POST with api_key, filters, tokens and errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from shared.runtime.auth import issue_token
from tests.unit.intake_http import SECRET, intake_test_client

REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                  "lat", "long", "media_url"}


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from intake_test_client(tmp_path, monkeypatch)


def key(place: str = "350300") -> str:
    return issue_token("client-1", "service", place, "Open311 client", key=SECRET)


def post(client: TestClient, fmt: str = "json", **over: str) -> Any:
    form = {"api_key": key(), "service_code": "urban.streetlight", "lat": "25.44",
            "long": "119.02", "description": "路灯不亮，电话13812345678", "phone": "13812345678",
            "first_name": "Wei", "last_name": "Li", "media_url": "https://example.org/1.jpg"}
    form.update(over)
    return client.post(f"/open311/v2/requests.{fmt}", data=form)


def test_services_and_definitions_in_json_and_xml(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    assert {s["service_code"] for s in services} >= {"urban.garbage", "urban.streetlight"}
    assert set(services[0]) == {"service_code", "service_name", "description", "metadata",
                                "type", "keywords", "group"}
    xml = ET.fromstring(client.get("/open311/v2/services.xml").content)
    assert [e.tag for e in xml] == ["service"] * len(services)
    definition = ET.fromstring(client.get("/open311/v2/services/urban.garbage.xml").content)
    assert definition.tag == "service_definition"
    assert definition.findtext("attributes/attribute/code") == "unit_code"
    missing = client.get("/open311/v2/services/no.such.json")
    assert missing.status_code == 404 and missing.json() == [
        {"code": 404, "description": "service_code no.such not found"}]


def test_a_request_round_trips_in_json_and_xml(client: TestClient) -> None:
    created = post(client, "xml")
    assert created.status_code == 201
    made = ET.fromstring(created.content)
    sr_id = made.findtext("request/service_request_id")
    token = made.findtext("request/token")
    as_json = client.get(f"/open311/v2/requests/{sr_id}.json", params={"api_key": key()}).json()
    assert len(as_json) == 1 and set(as_json[0]) == REQUEST_FIELDS
    one = as_json[0]
    assert one["service_code"] == "urban.streetlight" and one["status"] == "open"
    assert one["lat"] == 25.44 and one["long"] == 119.02
    assert one["media_url"] == "https://example.org/1.jpg"
    assert "13812345678" not in str(one) and "138****5678" in one["description"]
    as_xml = ET.fromstring(client.get(f"/open311/v2/requests/{sr_id}.xml",
                                      params={"api_key": key()}).content)
    request = as_xml.find("request")
    assert request is not None and {e.tag for e in request} == REQUEST_FIELDS
    assert request.findtext("service_request_id") == sr_id
    tok = client.get(f"/open311/v2/tokens/{token}.json", params={"api_key": key()}).json()
    assert tok == [{"service_request_id": sr_id, "token": token}]


def test_get_requests_filters(client: TestClient) -> None:
    a = post(client).json()[0]["service_request_id"]
    b = post(client, service_code="urban.garbage").json()[0]["service_request_id"]
    url = "/open311/v2/requests.json"
    by_code = client.get(url, params={"api_key": key(), "service_code": "urban.garbage"}).json()
    assert [r["service_request_id"] for r in by_code] == [b]
    by_ids = client.get(url, params={"api_key": key(), "service_request_id": f"{a},{b}"}).json()
    assert {r["service_request_id"] for r in by_ids} == {a, b}
    closed = client.get(url, params={"api_key": key(), "status": "closed"}).json()
    assert closed == []
    future = client.get(url, params={"api_key": key(), "start_date": "2999-01-01T00:00:00Z"})
    assert future.json() == []
    bad = client.get(url, params={"api_key": key(), "start_date": "yesterday"})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400
    elsewhere = client.get(url, params={"api_key": key("990100")}).json()
    assert elsewhere == []  # a key for Los Angeles sees nothing of 莆阳市


def test_errors_are_the_specs_list(client: TestClient) -> None:
    r = post(client, api_key="")
    assert r.status_code == 403 and r.json() == [{"code": 403, "description":
                                                  "api_key is required"}]
    r = post(client, "xml", description="")
    assert r.status_code == 400
    err = ET.fromstring(r.content)
    assert err.tag == "errors" and err.findtext("error/code") == "400"
    r = post(client, lat="", long="")
    assert r.status_code == 400 and "location" in r.json()[0]["description"]
    r = client.get("/open311/v2/requests.yaml", params={"api_key": key()})
    assert r.status_code == 404
    r = post(client, description="很长" * 40_000)
    assert r.status_code == 413 and r.json()[0]["code"] == 413


def test_outside_every_grid_is_accepted_with_a_notice(client: TestClient) -> None:
    r = post(client, lat="30.0", long="100.0")
    assert r.status_code == 201 and "manual placement" in r.json()[0]["service_notice"]
