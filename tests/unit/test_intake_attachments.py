"""A report's photos are served back to whoever may read the report, and to no one else."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.runtime.auth import issue_token
from tests.browser.test_pages import tiny_png
from tests.unit.intake_http import SECRET, intake_test_client

UNIT = "350302001001001001"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from intake_test_client(tmp_path, monkeypatch)


def bearer(role: str, place: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token('u-1', role, place, 'u', key=SECRET)}"}


def report_with_photo(client: TestClient, photo: bytes) -> tuple[str, str]:
    worker = bearer("grid_worker", UNIT[:15])
    up = client.post("/api/attachments", headers=worker,
                     files={"file": ("scene.png", photo, "image/png")})
    assert up.status_code == 201, up.text
    r = client.post("/api/reports", headers=worker, json={
        "category": "urban.garbage", "description": "垃圾桶满溢，两天无人清运",
        "unit_code": UNIT, "attachments": [up.json()["ref"]]})
    assert r.status_code == 202, r.text
    return str(r.json()["report_id"]), up.json()["ref"].removeprefix("att://")


def test_a_reports_photo_is_served_to_its_readers_only(client: TestClient) -> None:
    photo = tiny_png()
    report_id, digest = report_with_photo(client, photo)
    assert digest == hashlib.sha256(photo).hexdigest()
    url = f"/api/reports/{report_id}/attachments/{digest}"

    seen = client.get(url, headers=bearer("supervisor", "350300"))
    assert seen.status_code == 200
    assert seen.content == photo and seen.headers["content-type"] == "image/png"
    # Another district's reader, and a photo the report does not carry: as if absent.
    assert client.get(url, headers=bearer("supervisor", "350303")).status_code == 404
    other = hashlib.sha256(b"another photo").hexdigest()
    assert client.get(f"/api/reports/{report_id}/attachments/{other}",
                      headers=bearer("supervisor", "350300")).status_code == 404
    assert client.get(url).status_code == 401
