"""An offered load in the bench sends the same reports at a rate in every run, and new
ones when a run offers that rate again."""

from __future__ import annotations

from bench.suites import e2e


def test_an_offered_load_sends_its_rates_reports_and_others_when_offered_again() -> None:
    e2e._LOADS_SENT.clear()
    first, again = e2e.load_bodies(5, 2), e2e.load_bodies(5, 2)
    e2e._LOADS_SENT.clear()
    assert [b["description"] for b in e2e.load_bodies(5, 2)] == [
        b["description"] for b in first]  # the same work in every run
    assert not {b["description"] for b in first} & {b["description"] for b in again}
    assert len(first) == len(again) == 10
