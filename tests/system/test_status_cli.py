"""``enotime status`` against real ``enotime run`` processes, as a user runs them.

Every wait is on an output line or an exit status, with a deadline. Each run
carries a marker in its environment (inherited by every process it starts),
so whatever a test started is killed by PID even when it fails. Nodes keep
their control sockets in a directory of the test's own (``ENOTIME_RUNTIME_DIR``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from enotime._control_socket import socket_path
from tests.system._run import WAIT, EnotimeRun

ROOT = Path(__file__).resolve().parents[2]
TEST_MARKER = "ENOTIME_TEST_STATUS"


class Run(EnotimeRun):
    """One ``enotime run ARGS`` process, run from the repository root."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        super().__init__(args, cwd=ROOT, env=env, marker_var=TEST_MARKER)

    def expect_line(self, text: str, timeout: float = WAIT) -> str:
        """The first output line (so far or to come) containing ``text``."""
        return self.expect(re.escape(text), timeout=timeout).string

    def stop(self) -> int:
        """SIGTERM, then the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(WAIT)


Start = Callable[..., Run]


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A short directory for the sockets: a Unix socket path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="et-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def environment(runtime: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "ENOTIME_RUNTIME_DIR": str(runtime)}


@pytest.fixture
def start(environment: dict[str, str]) -> Iterator[Start]:
    runs: list[Run] = []

    def _start(*args: str) -> Run:
        runs.append(Run(environment, *args))
        return runs[-1]

    yield _start
    for run in runs:
        run.clean_up()


def status(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enotime", "status", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def test_status_shows_the_demo_tree_its_counters_and_a_restart(
    start: Start, environment: dict[str, str], runtime: Path
) -> None:
    run = start("supervisors.demo:service", "--name", "svc")
    run.expect_line("node svc: running")
    run.expect_line("child 'worker-1' stopped (crash: WorkerCrashed")  # job 10 is poisoned

    shown = status(environment)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"node svc  pid {run.proc.pid}  up ")
    root = next(line for line in lines if line.startswith("demo "))
    assert root.split()[:5] == ["demo", "(rest_for_one,", "3", "in", "5"]
    cells = [line.split("-- ")[1].split() for line in lines if "-- " in line]
    children = {row[0]: row for row in cells}
    assert list(children) == [
        "jobs",
        "workers",
        "worker-1",
        "worker-2",
        "worker-3",
        "Producer",
        "Reporter",
    ]
    assert children["jobs"][2:5] == ["JobQueue", "permanent", "running"]
    assert "(one_for_one, 10 in 5 s)" in " ".join(children["workers"])

    result = status(environment, "--node", "svc", "--json")
    assert result.returncode == 0, result.stderr
    [snap] = json.loads(result.stdout)["nodes"]
    assert (snap["node"], snap["pid"]) == ("svc", run.proc.pid)
    demo = snap["tree"]
    assert (demo["id"], demo["supervisor"]["strategy"]) == ("demo", "rest_for_one")
    workers = next(c for c in demo["children"] if c["id"] == "workers")
    assert [c["id"] for c in workers["children"]] == ["worker-1", "worker-2", "worker-3"]
    assert all(c["class"] == "Worker" for c in workers["children"])
    worker_1 = workers["children"][0]
    assert worker_1["restarts"] >= 1
    assert snap["totals"]["crashed_total"] >= 1
    assert snap["totals"]["restarts_total"] >= 1
    assert snap["totals"]["messages_handled_total"] > 0

    assert socket_path(runtime, "svc", run.proc.pid).exists()
    assert run.stop() == 0
    assert not socket_path(runtime, "svc", run.proc.pid).exists()
    gone = status(environment)
    assert gone.returncode == 1
    assert "no node is running" in gone.stderr


def test_a_killed_node_leaves_a_stale_socket_that_status_reports(
    start: Start, environment: dict[str, str], runtime: Path
) -> None:
    run = start("supervisors.demo:service", "--name", "doomed")
    run.expect_line("node doomed: running")
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(WAIT)
    path = socket_path(runtime, "doomed", run.proc.pid)
    assert path.exists()
    result = status(environment, "--node", "doomed")
    assert result.returncode == 1
    assert f"node 'doomed' (pid {run.proc.pid}) is not running: its control socket is stale" in (
        result.stderr
    )
    assert not path.exists()


def test_every_process_of_procs_is_a_node_of_its_own(
    start: Start, environment: dict[str, str], runtime: Path
) -> None:
    pytest.importorskip("thespian", reason="--procs needs enotime[procs]")
    run = start("supervisors.demo:service", "--name", "pp", "--procs", "2")
    for name in ("pp-1", "pp-2"):
        run.expect_line(f"node {name}: running")

    listing = status(environment)
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[0] for line in listing.stdout.splitlines()[:3]] == [
        "NODE",
        "pp-1",
        "pp-2",
    ]
    result = status(environment, "--json")
    nodes = json.loads(result.stdout)["nodes"]
    assert [n["node"] for n in nodes] == ["pp-1", "pp-2"]
    assert len({n["pid"] for n in nodes} | {run.proc.pid}) == 3  # two nodes, one supervisor
    assert all(n["tree"]["id"] == "demo" for n in nodes)

    assert run.stop() == 0
    assert sorted(p.name for p in runtime.iterdir()) == []
