"""The end-to-end stack: a real Kafka broker and a real PostgreSQL cluster of their own
(fresh for every session, on ports apart from `make run`), and the five service
processes started the way `govctl run` starts them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govctl.processes import REPO, Stack, infra

KAFKA_ENV = {"KAFKA_STATE_DIR": str(REPO / ".local" / "kafka-test"), "KAFKA_PORT": "29092",
             "KAFKA_CONTROLLER_PORT": "29093"}
PG_ENV = {"PG_STATE_DIR": str(REPO / ".local" / "pg-test"), "PG_PORT": "25432"}
TEST_PORTS = {"intake": 8201, "dedup": 8202, "dispatch": 8203, "supervision": 8204,
              "projections": 8205}


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    infra("kafka", "clean", env=KAFKA_ENV)
    infra("kafka", "start", env=KAFKA_ENV)
    yield f"127.0.0.1:{KAFKA_ENV['KAFKA_PORT']}"
    if not os.environ.get("KEEP_TEST_INFRA"):
        infra("kafka", "clean", env=KAFKA_ENV)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    infra("postgres", "clean", env=PG_ENV)
    infra("postgres", "start", env=PG_ENV)
    yield infra("postgres", "url", env=PG_ENV)
    if not os.environ.get("KEEP_TEST_INFRA"):
        infra("postgres", "clean", env=PG_ENV)


@pytest.fixture(scope="session")
def stack(kafka: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("stack")
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, "DATABASE_URL": postgres_url,
           "GOV_DATA_DIR": str(data), "GOV_CLOCK": "driven", "GOV_LOG_JSON": "true"}
    s = Stack(env=env, log_dir=Path(os.environ.get("E2E_LOG_DIR", data / "logs")),
              ports=dict(TEST_PORTS))
    s.start()
    yield s
    s.stop()


def eventually(check: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    """Poll until `check` returns something truthy; the last failure explains a timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except (AssertionError, httpx.HTTPError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout}s; last: {last!r}")
