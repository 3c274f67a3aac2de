"""Browser tests: Debian's headless Chromium driven by Playwright against the whole platform
(real Kafka, real PostgreSQL, every service and the portal), on a slot of their own
(E2E_SLOT + 50) so they never share a broker or ports with the end-to-end tests of the same
session. Screenshots go to tests/artifacts/ (ignored by git)."""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govctl import demo
from govctl.processes import REPO, SERVICES, Stack, infra
from shared.places import load_demo_registry
from shared.runtime.auth import issue_token

SLOT = int(os.environ.get("E2E_SLOT", "0")) + 50
KAFKA_ENV = {"KAFKA_STATE_DIR": str(REPO / ".local" / f"kafka-test{SLOT}"),
             "KAFKA_PORT": str(29092 + 10 * SLOT), "KAFKA_CONTROLLER_PORT": str(29093 + 10 * SLOT)}
PG_ENV = {"PG_STATE_DIR": str(REPO / ".local" / f"pg-test{SLOT}"), "PG_PORT": str(25432 + SLOT)}
PORTS = {name: 8201 + 100 * SLOT + i for i, name in enumerate(SERVICES)}
KEY = secrets.token_hex(32)
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
REVIEW_UNIT = "350302001001002001"
PHONE = {"width": 390, "height": 844}


def bearer(sub: str, role: str, place: str, department: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(sub, role, place, sub, department, key=KEY)}"}


@pytest.fixture(scope="package")  # torn down before other folders run
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `bash deploy/local/chromium.sh install`")
    infra("kafka", "clean", env=KAFKA_ENV)
    infra("kafka", "start", env=KAFKA_ENV)
    infra("postgres", "clean", env=PG_ENV)
    infra("postgres", "start", env=PG_ENV)
    data = tmp_path_factory.mktemp("browser-stack")
    env = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{KAFKA_ENV['KAFKA_PORT']}",
           "DATABASE_URL": infra("postgres", "url", env=PG_ENV), "GOV_DATA_DIR": str(data),
           "GOV_CLOCK": "driven", "GOV_LOG_JSON": "true", "GOV_AUTH_SECRET": KEY,
           "GOV_UPSTREAMS": json.dumps({n: f"http://127.0.0.1:{p}" for n, p in PORTS.items()
                                        if n != "portal"})}
    stack = Stack(env=env, log_dir=data / "logs", ports=dict(PORTS))
    try:
        stack.start()
        seed(stack)
        yield stack
    finally:
        stack.stop()
        if not os.environ.get("KEEP_TEST_INFRA"):
            infra("kafka", "clean", env=KAFKA_ENV)
            infra("postgres", "clean", env=PG_ENV)


def seed(stack: Stack) -> None:
    """The demo city's sample cases, some walked to closed, and one report for review."""
    first = demo.load(stack.url("intake"), stack.url("dispatch"), 30, KEY)
    assert (first.reported, first.kept) == (30, 0) and first.dispatched > 0
    # `make run` a second time on the same stores: nothing reported or walked twice.
    again = demo.load(stack.url("intake"), stack.url("dispatch"), 30, KEY)
    assert (again.reported, again.kept, again.dispatched) == (30, 30, 0)
    # A report that says only "同上" (as above) on the very spot of an open case of the same
    # category is never merged on place alone: it waits for a person, twice here.
    worker = bearer("gw-review", "grid_worker", REVIEW_UNIT[:15])
    lon, lat = load_demo_registry()[REVIEW_UNIT].point or (0.0, 0.0)
    for text in ("二号楼门口垃圾桶满溢，垃圾堆到路边，两天无人清运", "同上", "同上。"):
        r = httpx.post(f"{stack.url('intake')}/api/reports", headers=worker, timeout=10,
                       json={"external_ref": f"review-{uuid.uuid4()}", "category": "urban.garbage",
                             "description": text, "location": {"lon": lon, "lat": lat}})
        r.raise_for_status()
        time.sleep(1.0)  # the first must be a case before the others are compared with it


@pytest.fixture(scope="package")  # torn down before other folders run
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    phone = "phone" in request.node.name
    context = browser.new_context(viewport=PHONE if phone else {"width": 1366, "height": 900},
                                  locale="zh-CN", timezone_id="Asia/Shanghai",
                                  device_scale_factor=1)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.extend(missing_file(m)))
    yield p
    context.close()
    assert not errors, f"script errors or missing files on the page: {errors}"


def missing_file(message: Any) -> list[str]:
    """A page's own file (script, style, icon) the portal failed to serve. Not an API
    answer: tests refuse requests on purpose and the pages show why."""
    url = (message.location or {}).get("url", "")
    if message.type != "error" or not message.text.startswith("Failed to load resource") \
            or "/api/" in url:
        return []
    return [f"{message.text}: {url or 'unknown url'}"]
