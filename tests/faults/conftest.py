"""The fault suite runs on the end-to-end stack (real Kafka, real PostgreSQL, the service
processes) and prints its figures — inputs, effects, duplicates, losses — at the end."""

from __future__ import annotations

from typing import Any

import pytest

FIGURES: list[dict[str, Any]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault suite figures")
    header = f"{'scenario':<44}{'inputs':>8}{'effects':>9}{'duplicates':>12}{'losses':>8}"
    terminalreporter.write_line(header)
    for f in FIGURES:
        terminalreporter.write_line(
            f"{f['scenario']:<44}{f['inputs']:>8}{f['effects']:>9}{f['duplicates']:>12}"
            f"{f['losses']:>8}")


@pytest.fixture
def record_figures() -> Any:
    def record(**figures: Any) -> None:
        FIGURES.append(figures)

    return record
