"""No service takes a NUL character in a path, a query or a JSON body (PostgreSQL's text
cannot hold one; the API fuzzer found a query that failed as a 500). Binary uploads pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.runtime.auth import issue_token
from tests.unit.intake_http import SECRET, intake_test_client

UNIT = "350302001001001001"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from intake_test_client(tmp_path, monkeypatch)


def worker() -> dict[str, str]:
    token = issue_token("gw-1", "grid_worker", UNIT[:15], "网格员", key=SECRET)
    return {"authorization": f"Bearer {token}"}


def refused(r: object) -> bool:
    return (getattr(r, "status_code", None) == 422
            and "NUL" in r.json()["detail"][0]["msg"])  # type: ignore[attr-defined]


def test_a_nul_in_the_query_or_the_path_is_refused(client: TestClient) -> None:
    assert refused(client.get("/api/reports/stats?channel=%00", headers=worker()))
    assert refused(client.get("/api/reports/%00", headers=worker()))
    assert client.get("/api/reports/stats?channel=grid_app", headers=worker()).status_code == 200


def test_a_nul_in_a_json_body_is_refused_and_nothing_is_recorded(client: TestClient) -> None:
    body = {"category": "urban.garbage", "description": "垃圾\x00满溢",
            "location": {"lon": 119.02, "lat": 25.44}}
    wire = json.dumps(body).encode()
    assert b"\\u0000" in wire  # JSON escapes it; the middleware reads the escape
    r = client.post("/api/reports", headers={**worker(), "content-type": "application/json"},
                    content=wire)
    assert refused(r)
    stats = client.get("/api/reports/stats", headers=worker()).json()
    assert sum(stats.values()) == 0
    body["description"] = "垃圾满溢"
    ok = client.post("/api/reports", headers=worker(), json=body)
    assert ok.status_code == 202
