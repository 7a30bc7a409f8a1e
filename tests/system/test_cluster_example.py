"""The cluster example (``python -m examples.cluster``) does what docs/kernel.md says.

One run against the real RabbitMQ (skipped with the reason on a laptop without
one, failed in CI): three node processes share the jobs, one is killed with
``kill -9`` mid-job and restarted, the job it had in flight is answered by a
node process that survived, every job is answered, the cluster stops with
exit 0. Every process of the run carries this test's marker, so nothing
outlives the test, even when it fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from enotime.process import marked_pids, reap_marked, with_marker
from tests.contract.test_transport import _amqp_answers

ROOT = Path(__file__).resolve().parents[2]
TEST_MARKER = "ENOTIME_TEST_CLUSTER_EXAMPLE"
TIMEOUT = 150.0
"""Seconds the whole run may take (it needs about ten)."""


@pytest.mark.timeout(TIMEOUT + 30)  # the run, then the reaping of what it left
def test_three_nodes_share_the_jobs_and_survive_a_kill_9(
    require_service: Callable[[str], NoReturn],
) -> None:
    if (reason := _amqp_answers()) is not None:
        require_service(reason)
    marker = uuid.uuid4().hex
    proc = subprocess.Popen(
        # 1 s of work per job: a wide window for the kill to land mid-job on a busy machine
        [sys.executable, "-m", "examples.cluster", "--seconds", "1.0"],
        cwd=ROOT,
        env=with_marker(os.environ, marker, var=TEST_MARKER),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        leftovers = reap_marked(marker, grace=0.5, var=TEST_MARKER)
    assert proc.returncode == 0, output
    assert leftovers == [], output
    assert marked_pids(marker, TEST_MARKER) == [], output

    lines = output.splitlines()
    assert "all three nodes serve 'jobs'" in lines, output
    # load balancing: every node handled some of the 30 jobs
    counts = {m[1]: int(m[2]) for x in lines if (m := re.match(r"  (demo-\d): (\d+) jobs", x))}
    assert set(counts) == {"demo-1", "demo-2", "demo-3"}, output
    assert all(n > 0 for n in counts.values()), output
    assert sum(counts.values()) == 30, output
    # the kill -9 mid-job, the restart, the redelivery of the job in flight
    kill = re.search(
        r"^\*\*\* kill -9 demo-2 \(pid (\d+)\) while job (\d+) is in flight$", output, re.M
    )
    assert kill is not None, output
    pid, job = kill.groups()
    assert re.search(rf"process demo-2 \(pid {pid}\) exited \(signal SIGKILL\), restarting", output)
    restarted = re.search(
        r"^\*\*\* demo-2 restarted by the process supervisor as pid (\d+)$", output, re.M
    )
    assert restarted is not None, output
    assert restarted[1] != pid, output
    in_flight = re.search(
        rf"^  job {job} was in flight on demo-2 \(pid {pid}\) when it was killed: redelivered,"
        r" answered by (demo-\d) \(pid (\d+)\), a surviving node$",
        output,
        re.M,
    )
    assert in_flight is not None, output
    # Answered by a process alive after the kill: another node, or demo-2 restarted.
    started = {
        int(m[2]): m[1] for m in re.finditer(r"process (demo-\d) started \(pid (\d+)", output)
    }
    survivors = {p: name for p, name in started.items() if p != int(pid)}
    assert set(survivors.values()) == {"demo-1", "demo-2", "demo-3"}, output
    answered_by, answering_pid = in_flight[1], int(in_flight[2])
    assert survivors.get(answering_pid) == answered_by, output
    # every job accepted was answered, right; a clean stop
    assert "summary: 30 jobs submitted, 30 answered, 0 lost" in lines, output
    assert "  wrong results: none" in lines, output
    assert "cluster stopped with SIGTERM: exit 0" in lines, output
    assert "leftover" not in output, output
    assert lines[-1] == "result: OK", output
