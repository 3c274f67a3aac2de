"""Nothing lost, nothing doubled: faults injected while cases flow through the real
broker and PostgreSQL. Each test asserts that every input has exactly one effect and that
each case's events stay in order, and records its figures for the summary."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from govctl.processes import Stack, infra
from tests.e2e.conftest import KAFKA_ENV, LEADER, PG_ENV, auth, eventually
from tests.faults.harness import (
    Audit,
    Load,
    audit,
    during,
    psql_superuser,
    restart_everything_that_died,
)

pytestmark = pytest.mark.faults


def check(result: Audit, record: Any, scenario: str) -> None:
    record(scenario=scenario, inputs=result.inputs, effects=result.effects,
           duplicates=result.duplicates, losses=result.losses)
    assert (result.losses, result.duplicates, result.out_of_order) == (0, 0, 0), result
    assert result.effects == result.inputs


def test_consumers_killed_mid_batch_several_times(stack: Stack, record_figures: Any) -> None:
    load = Load(stack, 240).start()
    victims = ["dedup", "dispatch", "projections", "dedup", "dispatch", "projections"]

    def kill(name: str) -> Any:
        def fault() -> None:
            stack.processes[name].kill()
            stack.processes[name].start()
        return fault

    during(load, *[kill(v) for v in victims], gap=0.6)
    load.join()
    restart_everything_that_died(stack)
    check(audit(stack, load.case_ids), record_figures, "SIGKILL consumers x6 mid-batch")


def test_postgres_connections_terminated_and_server_restarted(
        stack: Stack, record_figures: Any) -> None:
    load = Load(stack, 150).start()

    def terminate() -> None:
        psql_superuser("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE usename = 'governance'")

    def restart() -> None:
        infra("postgres", "stop", env=PG_ENV)
        time.sleep(1.0)
        infra("postgres", "start", env=PG_ENV)

    during(load, terminate, restart, gap=1.0)
    load.join()
    restart_everything_that_died(stack)
    check(audit(stack, load.case_ids), record_figures, "PostgreSQL terminate + restart")


def test_broker_restarted_mid_flow(stack: Stack, record_figures: Any) -> None:
    load = Load(stack, 150).start()

    def restart_broker() -> None:
        infra("kafka", "stop", env=KAFKA_ENV)
        infra("kafka", "start", env=KAFKA_ENV)

    during(load, restart_broker, gap=1.0)
    load.join()
    restart_everything_that_died(stack)
    check(audit(stack, load.case_ids), record_figures, "Kafka broker restart")


def stored_events(schema: str) -> int:
    return int(psql_superuser(f"SELECT count(*) FROM {schema}.{schema}_events"))


def test_every_consumer_replayed_from_offset_zero_changes_nothing(
        stack: Stack, record_figures: Any) -> None:
    load = Load(stack, 60, pace=0.0).start()
    load.join()
    before_audit = audit(stack, load.case_ids)
    services = ("dedup", "dispatch", "supervision")
    before = {s: stored_events(s) for s in services}
    for name in (*services, "projections"):
        stack.processes[name].stop()
    # Forget every consumer position: each service re-reads its topics from offset 0.
    for s in services:
        psql_superuser(f"DELETE FROM {s}.{s}_tracking WHERE application_name LIKE 'gov.%'")
    psql_superuser("DELETE FROM projections.rm_tracking")
    for name in (*services, "projections"):
        stack.processes[name].start()
    restart_everything_that_died(stack)
    eventually(lambda: all_tracked_again(services), timeout=120)
    after = {s: stored_events(s) for s in services}
    assert after == before, (before, after)
    result = audit(stack, load.case_ids)
    assert result == before_audit
    check(result, record_figures, "replay every consumer from offset 0")


def all_tracked_again(services: tuple[str, ...]) -> bool:
    for s in services:
        n = psql_superuser(f"SELECT count(*) FROM {s}.{s}_tracking "
                           "WHERE application_name LIKE 'gov.%'")
        if int(n) == 0:
            return False
    return int(psql_superuser("SELECT count(*) FROM projections.rm_tracking")) > 0


def test_relay_killed_between_publish_and_mark_republishes_harmlessly(
        stack: Stack, record_figures: Any) -> None:
    load = Load(stack, 60, pace=0.0).start()
    load.join()
    audit(stack, load.case_ids)
    before = {s: stored_events(s) for s in ("dedup", "dispatch")}
    # The state a crash between the broker's ack and the position write leaves: every
    # event published, no position recorded. The restarted relay publishes them all again.
    for s in ("intake", "dedup"):
        stack.processes[s].kill()
        psql_superuser(f"DELETE FROM {s}.{s}_tracking WHERE application_name = 'outbox:kafka'")
        stack.processes[s].start()
    restart_everything_that_died(stack)
    time.sleep(5)  # let the republished copies flow through
    assert {s: stored_events(s) for s in ("dedup", "dispatch")} == before
    check(audit(stack, load.case_ids), record_figures, "relay republishes after a crash")


async def test_poison_messages_do_not_stop_the_flow(stack: Stack, kafka: str,
                                                    record_figures: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for value in (b"\xff\xfe", b"[]", b'{"event_type": "case.reported", "schema_version": 9}',
                      b'{"event_type": "no.such"}'):
            await producer.send_and_wait("gov.dedup.events", value, key=b"poison")
    finally:
        await producer.stop()
    load = Load(stack, 30, pace=0.0).start()
    await asyncio.to_thread(load.join)
    result = await asyncio.to_thread(audit, stack, load.case_ids)
    check(result, record_figures, "poison messages on gov.dedup.events")


def test_two_writers_racing_on_one_case(stack: Stack, record_figures: Any) -> None:
    load = Load(stack, 10, pace=0.0).start()
    load.join()
    audit(stack, load.case_ids)
    # The dispatched cases the reports became (dedup may merge related problems of one
    # unit, or queue one for a person): each raced once.
    cases = sorted(dispatched_cases(stack, load.case_ids))
    assert cases
    outcomes: list[int] = []

    def sign(case_id: str) -> None:
        # Staff of the department the case was dispatched to (each case has its own).
        dept = httpx.get(f"{stack.url('dispatch')}/api/cases/{case_id}",
                         headers=LEADER).json()["department"]
        staff = auth("race-1", "department_staff", department=dept)
        r = httpx.post(f"{stack.url('dispatch')}/api/cases/{case_id}/sign-for", headers=staff)
        outcomes.append(r.status_code)

    for case_id in cases:
        writers = [threading.Thread(target=sign, args=(case_id,)) for _ in range(2)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
    assert sorted(set(outcomes)) == [200, 409]
    assert outcomes.count(200) == len(cases)

    def one_signature_each() -> bool:
        for case_id in cases:
            file = httpx.get(f"{stack.url('projections')}/api/cases/{case_id}/file",
                             headers=LEADER).json()
            kinds = [e["event_type"] for e in file["events"]]
            if kinds.count("case.signed_for") != 1:
                return False
        return True

    eventually(one_signature_each)
    record_figures(scenario="two writers racing (sign for)", inputs=2 * len(cases),
                   effects=outcomes.count(200), duplicates=0, losses=0)


def dispatched_cases(stack: Stack, report_case_ids: list[str]) -> set[str]:
    with httpx.Client(base_url=stack.url("projections"), headers=LEADER, timeout=60) as c:
        found = (c.get(f"/api/cases/{r}").json() for r in report_case_ids)
        return {f["case_id"] for f in found if f.get("status") == "dispatched"}

