"""The bench's latency breakdown and CPU accounting (bench/hops.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.hops import Process, cpu_by_process, hop_latencies, pid_file

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_each_hop_is_timed_from_the_one_before():
    sent = {"a": 10.0, "b": 20.0}
    reported = {"a": 10.1, "b": 20.05}
    registered = {"a": 10.4, "b": 20.5}
    dispatched = {"a": 10.45, "b": 21.0}
    hops = hop_latencies(sent, [reported, registered, dispatched])
    assert [round(x) for x in hops["intake"]] == [100, 50]
    assert [round(x) for x in hops["dedup"]] == [300, 450]
    assert [round(x) for x in hops["dispatch"]] == [50, 500]


def test_a_case_that_never_reached_the_last_hop_is_left_out():
    """Merged or held for review: no dispatch, so no share of the dispatch latency."""
    hops = hop_latencies({"a": 1.0, "merged": 1.0},
                         [{"a": 1.1, "merged": 1.1}, {"a": 1.2}, {"a": 1.3}])
    assert [len(v) for v in hops.values()] == [1, 1, 1]


def test_cpu_counts_a_process_and_the_children_it_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        me = Process("me", os.getpid(), with_children=True)
        other = Process("other", child.pid)
        before = cpu_by_process([me, other])
        subprocess.run([sys.executable, "-c", BURN], check=True)  # a child, reaped
        after = cpu_by_process([me, other])
    finally:
        child.communicate(b"")
    assert after["me"] - before["me"] >= 0.25  # the burning child's 0.3 s, reaped
    assert after["other"] - before["other"] < 0.25  # an idle process stays near nothing


def test_a_pid_file_gives_its_first_line(tmp_path):
    (tmp_path / "postmaster.pid").write_text("4242\n/var/lib/data\n")
    assert pid_file(tmp_path / "postmaster.pid") == 4242
    assert pid_file(tmp_path / "missing.pid") is None
