"""The intake service's HTTP app on an embedded store, for route tests without a broker."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.intake.application import IntakeApplication
from services.intake.bootstrap import SPEC
from services.intake.settings import IntakeSettings
from shared.runtime.service import create_http_app

SECRET = "s" * 40  # the tokens' signing key in these tests


def intake_test_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("GOV_AUTH_SECRET", SECRET)
    settings = IntakeSettings(service_name="intake", data_dir=tmp_path)
    app = IntakeApplication(settings)
    http = create_http_app(SPEC, types.SimpleNamespace(sink=app, settings=settings))  # type: ignore[arg-type]
    yield TestClient(http)
    app.close()
