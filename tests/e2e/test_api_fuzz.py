"""Schemathesis against every service's OpenAPI: no server errors and no response that
contradicts the documented schema, whatever the input. Runs as an authenticated city
leader, so generated inputs reach the handlers instead of stopping at 401."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from govctl.processes import Stack
from tests.e2e.conftest import LEADER

pytestmark = pytest.mark.e2e

SERVICES = ("intake", "dedup", "dispatch", "supervision", "projections")
CHECKS = "not_a_server_error,response_schema_conformance"


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_errors_and_documented_shapes(stack: Stack, service: str) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(schemathesis), "--no-color", "run", f"{stack.url(service)}/openapi.json",
         "--checks", CHECKS, "--max-examples", "15", "--phases", "examples,fuzzing",
         "-H", f"Authorization:{LEADER['Authorization']}"],
        capture_output=True, text=True, timeout=600)
    tail = "\n".join(result.stdout.splitlines()[-40:])
    assert result.returncode == 0, f"schemathesis found problems in {service}:\n{tail}"
