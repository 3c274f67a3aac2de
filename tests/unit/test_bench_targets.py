"""The bench's targets: each checked against the same run's figures, and beside it, where
one is measured, the ceiling this machine puts on it."""

from __future__ import annotations

import math

from bench.__main__ import _check


def test_a_target_above_what_the_machine_reaches_alone_is_marked_unreachable() -> None:
    report = {"replay_events_per_s": 7_000.0, "replay_parse_events_per_s": 45_000.0}
    above = _check(report, "replay_events_per_s", ">=", 50_000.0)
    assert above["met"] is False and above["reachable_here"] is False
    assert above["ceiling"] == 45_000.0
    assert above["ceiling_figure"] == "replay_parse_events_per_s"
    within = _check(report, "replay_events_per_s", ">=", 20_000.0)
    assert within["met"] is False and within["reachable_here"] is True


def test_a_target_without_a_measured_ceiling_has_none_and_a_missing_figure_no_verdict(
) -> None:
    report = {"e2e_cases_per_s": 300.0, "baseline_inprocess_cases_per_s": 100.0,
              "e2e_p99_ms_at_200": math.nan}
    against_peer = _check(report, "e2e_cases_per_s", ">=", "baseline_inprocess_cases_per_s")
    assert against_peer["met"] is True and against_peer["measured_over_target"] == 3.0
    assert "ceiling" not in against_peer
    assert _check(report, "e2e_p99_ms_at_200", "<=", 250.0)["met"] is None
    assert _check(report, "replay_events_per_s", ">=", 50_000.0)["met"] is None
