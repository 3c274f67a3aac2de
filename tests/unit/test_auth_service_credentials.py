"""Service credentials: a key and an audience of their own, so a user token can never pass
for a system; production does not start without both keys."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from shared.runtime import service
from shared.runtime.auth import (
    SERVICE_AUDIENCE,
    AuthConfigError,
    Caller,
    check_config,
    derived_service_key,
    issue_service_token,
    issue_token,
    require_role,
)

USERS_KEY = secrets.token_hex(32)
SERVICES_KEY = secrets.token_hex(32)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOV_AUTH_SECRET", USERS_KEY)
    monkeypatch.setenv("GOV_SERVICE_SECRET", SERVICES_KEY)


@pytest.fixture
def client(keys: None) -> TestClient:
    app = FastAPI()

    @app.get("/systems-only")
    def systems_only(who: Annotated[Caller, Depends(require_role("service"))]) -> str:
        return who.id

    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def forged(key: str, **extra: object) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": "x", "role": "service", "place": "350300", "iat": now,
                       "exp": now + timedelta(hours=1), **extra}, key, algorithm="HS256")


def test_a_route_reserved_to_systems_takes_only_a_service_credential(client: TestClient
                                                                     ) -> None:
    ok = client.get("/systems-only", headers=bearer(issue_service_token("police_110", "350300")))
    assert ok.status_code == 200 and ok.json() == "police_110"
    user = issue_token("d-1", "dispatcher", "350300")
    assert client.get("/systems-only", headers=bearer(user)).status_code == 403


@pytest.mark.parametrize("token", [
    forged(USERS_KEY),  # the users' key claiming role service
    forged(USERS_KEY, aud=SERVICE_AUDIENCE),
    forged(SERVICES_KEY),  # the right key without the audience
    forged(SERVICES_KEY, aud="someone-else"),
])
def test_a_token_that_only_claims_to_be_a_system_is_refused(client: TestClient,
                                                            token: str) -> None:
    assert client.get("/systems-only", headers=bearer(token)).status_code == 401


def test_in_development_the_service_key_is_derived_from_the_users_key(
        monkeypatch: pytest.MonkeyPatch, client: TestClient) -> None:
    monkeypatch.delenv("GOV_SERVICE_SECRET")
    token = issue_token("sys-1", "service", "350300", key=USERS_KEY)
    assert jwt.decode(token, derived_service_key(USERS_KEY), algorithms=["HS256"],
                      audience=SERVICE_AUDIENCE)["role"] == "service"
    assert client.get("/systems-only", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("services_key", ["", "short", USERS_KEY])
def test_production_refuses_to_start_without_a_distinct_service_key(
        monkeypatch: pytest.MonkeyPatch, keys: None, services_key: str) -> None:
    monkeypatch.setenv("GOV_ENV", "production")
    monkeypatch.setenv("GOV_SERVICE_SECRET", services_key)
    with pytest.raises(AuthConfigError):
        check_config()
    with pytest.raises(AuthConfigError):  # before reading any settings or connecting
        service.run(None)  # type: ignore[arg-type]


def test_production_starts_with_both_keys(monkeypatch: pytest.MonkeyPatch, keys: None) -> None:
    monkeypatch.setenv("GOV_ENV", "production")
    check_config()


def test_a_token_checked_once_still_expires(client: TestClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_service_token("police_110", "350300", ttl=timedelta(minutes=5))
    assert client.get("/systems-only", headers=bearer(token)).status_code == 200
    later = datetime.now(UTC) + timedelta(minutes=6)
    monkeypatch.setattr("shared.runtime.auth.time.time", later.timestamp)
    expired = client.get("/systems-only", headers=bearer(token))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_a_token_checked_under_one_key_is_not_taken_under_another(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_service_token("police_110", "350300")
    assert client.get("/systems-only", headers=bearer(token)).status_code == 200
    monkeypatch.setenv("GOV_SERVICE_SECRET", secrets.token_hex(32))  # the key was rotated
    assert client.get("/systems-only", headers=bearer(token)).status_code == 401
