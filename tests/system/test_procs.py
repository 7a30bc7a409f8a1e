"""``enotime run --procs N`` and the ProcessSupervisor, with real OS processes.

Every wait is on an output line, an exit status or a PID, with a deadline.
Each run carries a marker of its own in its environment (inherited by the
host, thespian's daemonized admin, its actors and the nodes), so a test can
prove that nothing is left -- and cleans up by PID even when it fails.
"""

from __future__ import annotations

import os
import signal
import socket
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from enotime import Restart
from enotime.process import ProcessSupervisor, marked_pids, node_process, reap_marked
from tests.system._run import WAIT, EnotimeRun

ROOT = Path(__file__).resolve().parents[2]
TEST_MARKER = "ENOTIME_TEST_PROCS"

APP = textwrap.dedent(
    """
    import os
    from enotime import Actor, ExitReason

    def say(line: str) -> None:
        # One write() per line: processes sharing the pipe cannot interleave it.
        os.write(1, (line + "\\n").encode())

    class Loud(Actor):
        async def on_start(self) -> None:
            say(f"up {self.node.name} {os.getpid()}")

        async def on_stop(self, reason: ExitReason) -> None:
            say(f"down {self.node.name} {os.getpid()}")
    """
)


class Run(EnotimeRun):
    """One ``enotime run app:Loud --name n ... --procs N`` process, in ``cwd``."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        super().__init__(
            ["app:Loud", "--name", "n", *args], cwd=cwd, env=env, marker_var=TEST_MARKER
        )

    def up(self, node: str, nth: int = 1) -> int:
        """The PID of ``node`` once it printed (for the ``nth`` time) that its actor started."""
        return int(self.expect(rf"^up {node} (\d+)$", nth).group(1))

    def leftovers(self) -> list[int]:
        return marked_pids(self.marker, TEST_MARKER)


Start = Callable[..., Run]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start ``enotime run app:Loud --name n ARGS...``; every run is cleaned up by PID."""
    (tmp_path / "app.py").write_text(APP)
    runs: list[Run] = []

    def _start(*args: str) -> Run:
        runs.append(Run(tmp_path, *args))
        return runs[-1]

    yield _start
    for run in runs:
        run.clean_up()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive"
        time.sleep(0.02)  # polling a PID with a bounded deadline -- noqa: sleep-ok


def test_n_processes_start_and_sigterm_stops_them_in_reverse_order(start: Start) -> None:
    run = start("--procs", "3")
    pids = {node: run.up(node) for node in ("n-1", "n-2", "n-3")}
    assert len(set(pids.values())) == 3
    assert all(_alive(pid) for pid in pids.values())
    assert set(pids.values()) <= set(run.leftovers())  # the nodes carry the marker

    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == 0, run.output()

    output = run.output()
    assert output.index("down n-3") < output.index("down n-2") < output.index("down n-1")
    assert not any(_alive(pid) for pid in pids.values())
    assert run.leftovers() == []
    assert "leftover" not in output  # nothing had to be killed by PID: the shutdown was clean


def test_sigint_stops_as_sigterm_does(start: Start) -> None:
    run = start("--procs", "2")
    pids = [run.up("n-1"), run.up("n-2")]
    run.proc.send_signal(signal.SIGINT)
    assert run.wait() == 0, run.output()
    assert not any(_alive(pid) for pid in pids)
    assert run.leftovers() == []


def test_kill_9_of_one_child_restarts_it_and_leaves_the_others_alone(start: Start) -> None:
    run = start("--procs", "3")
    pids = {node: run.up(node) for node in ("n-1", "n-2", "n-3")}

    os.kill(pids["n-2"], signal.SIGKILL)
    run.expect(rf"process n-2 \(pid {pids['n-2']}\) exited \(signal SIGKILL\), restarting")
    new_pid = run.up("n-2", nth=2)

    assert new_pid != pids["n-2"]
    assert _alive(new_pid)
    assert _alive(pids["n-1"])
    assert _alive(pids["n-3"])
    assert sorted(line for line in run.lines if line.startswith("up ")) == sorted(
        [*(f"up {node} {pid}" for node, pid in pids.items()), f"up n-2 {new_pid}"]
    )
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == 0, run.output()
    assert run.leftovers() == []


def test_restarts_beyond_the_intensity_make_the_command_exit_non_zero(start: Start) -> None:
    run = start("--procs", "2", "--max-restarts", "1", "--max-seconds", "60")
    first = run.up("n-1")
    survivor = run.up("n-2")
    os.kill(first, signal.SIGKILL)
    second = run.up("n-1", nth=2)  # one restart is allowed
    os.kill(second, signal.SIGKILL)  # the second is one too many

    assert run.wait() == 1, run.output()
    assert "more than 1 process restarts in 60 s, giving up" in run.output()
    assert "down n-2" in run.output()  # the survivor was stopped in order
    _wait_gone(survivor, timeout=0.0)
    assert run.leftovers() == []


def test_a_killed_command_still_stops_its_children_and_leaves_no_process(start: Start) -> None:
    run = start("--procs", "2")
    pids = [run.up("n-1"), run.up("n-2")]
    run.proc.kill()  # no chance to clean up: the host sees its stdin close and stops all
    run.expect("^down n-2 ")
    run.expect("^down n-1 ")
    deadline = time.monotonic() + WAIT
    while run.leftovers():
        assert time.monotonic() < deadline, f"left behind: {run.leftovers()}"
        time.sleep(0.05)  # polling PIDs with a bounded deadline -- noqa: sleep-ok
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.parametrize(
    ("restart", "restarted"), [("transient", False), ("permanent", True), ("temporary", False)]
)
def test_a_child_that_exits_0_is_restarted_by_its_restart_type(
    start: Start, restart: str, restarted: bool
) -> None:
    run = start("--procs", "2", "--restart", restart)
    pid = run.up("n-1")
    other = run.up("n-2")
    os.kill(pid, signal.SIGTERM)  # a node stopped by a signal exits 0: a normal exit
    run.expect(rf"process n-1 \(pid {pid}\) exited \(status 0\)")
    if restarted:
        assert run.up("n-1", nth=2) != pid
    else:
        run.expect(r"not restarted")
    assert _alive(other)

    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == 0, run.output()
    assert sum(line.startswith("up n-1") for line in run.lines) == 1 + restarted
    assert run.leftovers() == []


def test_thespian_listens_on_loopback_only(start: Start) -> None:
    run = start("--procs", "1")
    run.up("n-1")
    listening = _listening_addresses(run.leftovers())
    assert listening  # thespian's admin and actors listen
    assert {address for address, _ in listening} == {"0100007F"}  # 127.0.0.1
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == 0, run.output()


def _listening_addresses(pids: list[int]) -> set[tuple[str, str]]:
    """(hex address, hex port) of the TCP sockets in LISTEN state that ``pids`` hold."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    address, port = fields[1].split(":")
                    found.add((address, port))
    return found


def test_the_api_runs_one_actor_in_its_own_supervised_process(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    spec = node_process(
        "app:Loud",
        name="solo",
        cwd=str(tmp_path),
        restart=Restart.PERMANENT,
        env={"PYTHONPATH": str(ROOT)},
    )
    supervisor = ProcessSupervisor([spec], max_restarts=2)
    try:
        supervisor.start()
        [child] = supervisor.children()
        assert child.id == "solo"
        assert child.pid is not None
        assert child.pid in marked_pids(supervisor.marker)
        os.kill(child.pid, signal.SIGKILL)
        events = [supervisor.next_event(WAIT) for _ in range(2)]
        assert [(e.kind, e.action) for e in events if e is not None] == [
            ("exited", "restart"),
            ("started", None),
        ]
        [again] = supervisor.children()
        assert again.pid not in (None, child.pid)
        assert again.restarts == 1
        assert supervisor.stop() == 0
        assert supervisor.leftovers == []
        assert marked_pids(supervisor.marker) == []
    finally:
        supervisor.stop()
        reap_marked(supervisor.marker, grace=0.5)


def _scrape(port: int) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Every sample ``/metrics`` on 127.0.0.1:``port`` answers now, in order."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as answer:
        text = answer.read().decode()
    return [
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _two_free_ports_in_a_row() -> int:
    """A port P such that P and P + 1 were free on 127.0.0.1 a moment ago."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    pytest.fail("no two consecutive free ports found")


@pytest.mark.parametrize("base", ["free", "fixed"])
def test_every_process_is_scraped_once_as_its_own_node(start: Start, base: str) -> None:
    metrics_port = "0" if base == "free" else str(_two_free_ports_in_a_row())
    run = start("--procs", "2", "--metrics-port", metrics_port)
    serving = r"node (n-\d): serving /metrics on http://127\.0\.0\.1:(\d+)/metrics"
    ports = {}
    for nth in (1, 2):
        node, port = run.expect(serving, nth).groups()
        ports[node] = int(port)
    assert sorted(ports) == ["n-1", "n-2"]
    assert len(set(ports.values())) == 2
    if base == "fixed":
        assert ports == {"n-1": int(metrics_port), "n-2": int(metrics_port) + 1}
    pids = {node: run.up(node) for node in ports}

    def check(node: str) -> None:
        samples = _scrape(ports[node])
        keys = [(name, labels) for name, labels, _ in samples]
        assert len(keys) == len(set(keys)), "a series served twice"
        info = [(labels, value) for name, labels, value in samples if name == "enotime_node_info"]
        assert info == [((("node", node),), 1.0)]  # this process's node, and no other
        loud = ("enotime_actor_alive", (("actor_class", "Loud"),))
        assert dict(((name, labels), value) for name, labels, value in samples)[loud] == 1.0

    for node in ports:
        check(node)

    # A restarted node comes back on the same port, as the same node: no series lost.
    os.kill(pids["n-2"], signal.SIGKILL)
    node, port = run.expect(serving, 3).groups()
    assert (node, int(port)) == ("n-2", ports["n-2"])
    run.up("n-2", nth=2)
    check("n-2")
    check("n-1")

    run.proc.send_signal(signal.SIGTERM)
    assert run.wait() == 0, run.output()
    assert run.leftovers() == []
