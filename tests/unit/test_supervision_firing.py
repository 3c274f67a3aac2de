"""Many alarms due at once (after an outage, or a jump of the driven clock): recorded a
batch of watches per transaction, each once; a failed transaction leaves its alarms due,
and a watch moved by another writer meanwhile has its alarm fired on its own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from services.supervision import application as supervision
from services.supervision.application import SupervisionApplication
from shared.runtime.clock import DrivenClock
from tests.unit.test_supervision_story import Story, app, settings, t

__all__ = ["app", "settings"]  # fixtures


def cases_due_together(app: SupervisionApplication, n: int) -> list[uuid.UUID]:
    story, cases = Story(app), [uuid.uuid4() for _ in range(n)]
    for case in cases:
        story.report(case, t(1, 9))
        story.dispatched(case, t(1, 9), t(1, 12), t(3, 17, 30))
    clock = app.clock
    assert isinstance(clock, DrivenClock)
    clock.set(t(1, 12, 1))  # every sign deadline has passed: warned, then overdue
    return cases


def count_saves(app: SupervisionApplication, monkeypatch: pytest.MonkeyPatch,
                fail: list[Exception] | None = None) -> list[int]:
    """Watches per save; the first saves raise the errors in `fail`, one each."""
    saves: list[int] = []
    save = SupervisionApplication.save

    def counted(self: SupervisionApplication, *objs: Any, **kwargs: Any) -> Any:
        saves.append(len(objs))
        if fail:
            raise fail.pop(0)
        return save(self, *objs, **kwargs)

    monkeypatch.setattr(SupervisionApplication, "save", counted)
    return saves


def test_alarms_due_together_are_recorded_a_batch_per_transaction(
        app: SupervisionApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "FIRE_BATCH", 4)
    cases = cases_due_together(app, 10)
    saves = count_saves(app, monkeypatch)
    fired = app.fire_due()
    assert fired == 20  # each case: the sign deadline's warning, then its overdue
    assert saves == [4] * 5  # four alarms, four watches, one transaction
    for case in cases:
        watch = app.repository.get(case)
        assert len(watch.fired) == 2 and not any(watch.is_due("sign", level)
                                                 for level in ("warned", "overdue"))
    assert app.fire_due() == 0


def test_a_failed_transaction_leaves_its_alarms_due(
        app: SupervisionApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    cases_due_together(app, 3)
    count_saves(app, monkeypatch, fail=[OperationalError("database restarting")])
    with pytest.raises(OperationalError):
        app.fire_due()
    assert app.fire_due() == 6  # nothing was lost with the failed transaction
    assert app.fire_due() == 0


def test_a_watch_moved_meanwhile_has_its_alarms_fired_on_their_own(
        app: SupervisionApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    cases_due_together(app, 3)
    saves = count_saves(app, monkeypatch, fail=[IntegrityError("another writer")])
    assert app.fire_due() == 6
    assert saves[0] == 3 and saves[1:] == [1] * 6
    assert app.fire_due() == 0
