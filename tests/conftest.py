"""Session fixtures shared by every tier that needs the running platform (e2e, faults):
one real Kafka broker, one real PostgreSQL cluster and one set of service processes per
session, however many test folders use them. Constants and helpers live in
tests/e2e/conftest.py."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from govctl.processes import Stack, infra, postgres_roles
from tests.e2e.conftest import AUTH_SECRET, KAFKA_ENV, PG_ENV, TEST_PORTS

# Property tests assert behaviour, never time: no per-example deadline (a loaded CI machine
# made a 200 ms deadline fail a correct parser).
settings.register_profile("platform", deadline=None)
settings.load_profile("platform")


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
    # Two roles, as in production: the owner migrates, the services run as roles that
    # own nothing (postgres_url, the owner's, stays for tests that play the intruder).
    owner_url, database = postgres_roles(PG_ENV)
    assert owner_url == postgres_url
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka, **database,
           "GOV_DATA_DIR": str(data), "GOV_CLOCK": "driven", "GOV_LOG_JSON": "true",
           "GOV_AUTH_SECRET": AUTH_SECRET,
           # The portal's gateway reaches the services on this session's ports.
           "GOV_UPSTREAMS": json.dumps({name: f"http://127.0.0.1:{port}"
                                        for name, port in TEST_PORTS.items() if name != "portal"})}
    s = Stack(env=env, log_dir=Path(os.environ.get("E2E_LOG_DIR", data / "logs")),
              ports=dict(TEST_PORTS), owner_url=owner_url,
              # test_portal_read_models rebuilds beside the live read model into this one.
              read_models=("projections", "projections-rebuilt"))
    s.start()
    yield s
    s.stop()
