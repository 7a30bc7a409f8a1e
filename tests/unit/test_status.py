"""``enotime status``: a node's snapshot, its control socket, and the command that reads it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from enotime import (
    Actor,
    DynamicSupervisor,
    Node,
    Restart,
    Strategy,
    child,
    handler,
    start_child,
    supervisor,
    which_children,
)
from enotime._cli import main
from enotime._control_socket import (
    RUNTIME_DIR_ENV,
    ControlClient,
    ControlError,
    SocketInUse,
    node_sockets,
    open_control_socket,
    parse_socket_path,
    private_directory,
    runtime_directory,
    socket_path,
)
from enotime._inspect import InspectableNode, open_inspection, render, render_listing, snapshot
from enotime.errors import ActorExited
from enotime.messages import Request


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A short private directory: a Unix socket path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="et-", dir="/tmp"))
    try:
        yield path / "run"
    finally:
        shutil.rmtree(path)


@dataclass(frozen=True)
class Work(Request[int]):
    pass


@dataclass(frozen=True)
class Fail(Request[None]):
    pass


@dataclass(frozen=True)
class SpawnHelper(Request[None]):
    pass


class Worker(Actor):
    def __init__(self) -> None:
        self.done = 0

    @handler
    def work(self, msg: Work) -> int:
        self.done += 1
        return self.done

    @handler
    def fail(self, msg: Fail) -> None:
        raise RuntimeError("asked to")

    @handler
    async def spawn_helper(self, msg: SpawnHelper) -> None:
        await self.spawn(Worker, link=True)


class Once(Actor):
    """A transient child that is done as soon as it started."""

    async def on_start(self) -> None:
        self.stop()


def tree() -> Any:
    return supervisor(
        "app",
        [
            child(Worker, name="db"),
            supervisor(
                "pool",
                [child(Worker, id=f"w{i}") for i in (1, 2)],
                strategy=Strategy.ONE_FOR_ALL,
                max_restarts=7,
                max_seconds=3,
                name="pool",
            ),
            child(Once, restart=Restart.TRANSIENT),
        ],
        strategy=Strategy.REST_FOR_ONE,
        name="app",
    )


def by_id(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in entry["children"]}


# -- the snapshot ---------------------------------------------------------------------------


async def test_the_snapshot_shows_the_tree_with_strategies_specs_and_statuses(node: Node) -> None:
    root = await node.start(tree())
    await which_children(root)  # the transient child's exit has been handled
    snap = snapshot(node)
    app = snap["tree"]
    assert (app["id"], app["name"], app["class"], app["status"]) == (
        "app",
        "app",
        "Supervisor",
        "running",
    )
    assert app["supervisor"] == {
        "strategy": "rest_for_one",
        "max_restarts": 3,
        "max_seconds": 5.0,
        "restarts_total": 0,
    }
    children = by_id(app)
    assert list(children) == ["db", "pool", "Once"]
    db, pool, once = children["db"], children["pool"], children["Once"]
    assert (db["name"], db["class"], db["restart"], db["shutdown"], db["status"]) == (
        "db",
        "Worker",
        "permanent",
        5.0,
        "running",
    )
    assert pool["supervisor"]["strategy"] == "one_for_all"
    assert (pool["shutdown"], pool["supervisor"]["max_restarts"]) == ("infinity", 7)
    assert [(c["id"], c["name"], c["status"]) for c in pool["children"]] == [
        ("w1", None, "running"),
        ("w2", None, "running"),
    ]
    assert (once["status"], once["restart"], once["pid"], once["messages_handled"]) == (
        "stopped",
        "transient",
        None,
        None,
    )
    assert snap["others"] == []
    assert snap["node"] == "test"
    assert snap["version"] == 1
    assert snap["totals"]["actors_alive"] == 5
    json.dumps(snap)  # plain JSON types only


async def test_counters_follow_messages_crashes_and_restarts(node: Node) -> None:
    root = await node.start(tree())
    db = node.lookup("db")
    for _ in range(3):
        await db.call(Work())
    with pytest.raises(ActorExited):
        await db.call(Fail())
    await which_children(root)  # the restart is done when this returns (FIFO mailbox)
    snap = snapshot(node)
    db_entry = by_id(snap["tree"])["db"]
    assert db_entry["restarts"] == 1
    assert db_entry["messages_handled"] == 0  # a fresh actor
    assert db_entry["pid"] == node.lookup("db")._proc.pid
    assert snap["tree"]["supervisor"]["restarts_total"] == 1
    # REST_FOR_ONE restarted the pool too; its restart is counted against db only.
    assert by_id(snap["tree"])["pool"]["restarts"] == 0
    totals = snap["totals"]
    assert (totals["crashed_total"], totals["restarts_total"]) == (1, 1)
    assert totals["messages_handled_total"] >= 4
    worker = next(c for c in snap["classes"] if c["class"] == "Worker")
    assert (worker["alive"], worker["crashed_total"]) == (3, 1)
    assert worker["messages_handled_total"] >= 4
    assert {"supervisor": "app", "child": "db", "restarts": 1} in snap["restarts_by_child"]


async def test_actors_outside_the_tree_are_listed_apart_or_under_their_spawner(
    node: Node,
) -> None:
    await node.start(tree())
    loner = await node.spawn(Worker, name="loner")
    await node.lookup("db").call(SpawnHelper())
    await loner.call(SpawnHelper())
    snap = snapshot(node)
    db = by_id(snap["tree"])["db"]
    assert [(c["id"], c["class"], c["restart"]) for c in db["children"]] == [(None, "Worker", None)]
    [other] = snap["others"]
    assert (other["name"], other["id"], len(other["children"])) == ("loner", None, 1)
    assert "#" + str(other["children"][0]["pid"]) in render(snap)


async def test_limit_lists_the_first_children_and_counts_the_rest(node: Node) -> None:
    dynamic = await node.start(child(DynamicSupervisor, name="sessions"))
    for _ in range(5):
        await start_child(dynamic, child(Worker, id="session"))
    snap = snapshot(node, limit=2)
    assert len(snap["tree"]["children"]) == 2
    assert (snap["tree"]["omitted"], snap["omitted"]) == (3, 3)
    assert "... 3 more" in render(snap)
    assert snapshot(node, limit=None)["omitted"] == 0
    assert snapshot(node, limit=0)["tree"]["children"] == []
    with pytest.raises(ValueError, match="limit"):
        snapshot(node, limit=-1)


class Slow(Actor):
    """Its start waits for the test while ``gate`` is set."""

    gate: asyncio.Event | None = None
    entered = asyncio.Event()

    async def on_start(self) -> None:
        if Slow.gate is not None:
            Slow.entered.set()
            await Slow.gate.wait()

    @handler
    def fail(self, msg: Fail) -> None:
        raise RuntimeError("asked to")


@pytest.fixture
def gate() -> Iterator[asyncio.Event]:
    Slow.gate, Slow.entered = asyncio.Event(), asyncio.Event()
    try:
        yield Slow.gate
    finally:
        Slow.gate = None


async def test_a_tree_being_started_is_shown_apart_until_it_is_the_root(
    node: Node, gate: asyncio.Event
) -> None:
    starting = asyncio.create_task(
        node.start(supervisor("root", [child(Worker, id="a"), child(Slow, name="slow")]))
    )
    await asyncio.wait_for(Slow.entered.wait(), 5)
    snap = snapshot(node)
    [root] = snap["others"]
    assert (snap["tree"], root["status"]) == (None, "starting")
    # The supervisor learns a child's spec once it started: (None, "starting") till then.
    assert [(c["id"], c["status"]) for c in root["children"]] == [
        ("a", "running"),
        (None, "starting"),
    ]
    gate.set()
    await asyncio.wait_for(starting, 5)
    assert snapshot(node)["tree"]["status"] == "running"


async def test_a_child_being_restarted_shows_as_starting_under_its_spec(node: Node) -> None:
    root = await node.start(supervisor("root", [child(Worker, id="a"), child(Slow, name="slow")]))
    Slow.gate, Slow.entered = asyncio.Event(), asyncio.Event()
    try:
        with pytest.raises(ActorExited):
            await node.lookup("slow").call(Fail())
        await asyncio.wait_for(Slow.entered.wait(), 5)
        snap = snapshot(node)
        assert [(c["id"], c["status"], c["restarts"]) for c in snap["tree"]["children"]] == [
            ("a", "running", 0),
            ("slow", "starting", 1),
        ]
        Slow.gate.set()
    finally:
        Slow.gate = None
    await which_children(root)
    assert [c["status"] for c in snapshot(node)["tree"]["children"]] == ["running", "running"]


async def test_a_node_without_a_tree_has_none(node: Node) -> None:
    snap = snapshot(node)
    assert (snap["tree"], snap["others"], snap["uptime_seconds"]) == (None, [], None)
    assert "no supervision tree is running" in render(snap)


async def test_render_shows_the_tree_and_the_classes(node: Node) -> None:
    root = await node.start(tree())
    await which_children(root)
    text = render(snapshot(node, started_at=0.0))
    lines = text.splitlines()
    assert lines[0].startswith("node test  pid ")
    assert "5 actors alive" in lines[1]
    header = next(line for line in lines if line.startswith("ACTOR"))
    assert header.split() == [
        "ACTOR",
        "NAME",
        "CLASS",
        "RESTART",
        "STATUS",
        "HANDLED",
        "QUEUED",
        "RESTARTS",
    ]
    rows = [line.split() for line in lines if line.split() and line.split()[0] in TREE_MARKS]
    assert [row[:2] for row in rows] == [
        ["app", "(rest_for_one,"],
        ["|--", "db"],
        ["|--", "pool"],
        ["|", "|--"],
        ["|", "`--"],
        ["`--", "Once"],
    ]
    assert any(line.split()[:2] == ["Worker", "3"] for line in lines)


TREE_MARKS = {"app", "|--", "|", "`--"}


def test_render_listing_has_one_line_per_node() -> None:
    snaps = [_fake("a", 3), _fake("b", 4)]
    lines = render_listing(snaps).splitlines()
    assert lines[0].split()[:2] == ["NODE", "PID"]
    assert [line.split()[0] for line in lines[1:]] == ["a", "b"]


def _fake(name: str, alive: int) -> dict[str, Any]:
    totals = {"actors_alive": alive, "crashed_total": 0, "restarts_total": 0}
    return {
        "node": name,
        "pid": 1,
        "uptime_seconds": 3725.0,
        "totals": {**totals, "dead_letters_total": 0},
    }


# -- the control socket ----------------------------------------------------------------------


async def test_a_node_serves_its_snapshot_on_a_private_socket(node: Node, run_dir: Path) -> None:
    await node.start(tree())
    async with open_inspection(node, run_dir) as path:
        assert path == run_dir / f"test@{os.getpid()}.sock"
        modes = [stat.S_IMODE((await asyncio.to_thread(p.stat)).st_mode) for p in (run_dir, path)]
        assert modes == [0o700, 0o600]
        client = ControlClient(path)
        pong = await asyncio.to_thread(client.request, op="ping")
        assert pong == {"ok": True, "node": "test", "pid": os.getpid()}
        reply = await asyncio.to_thread(client.request, op="snapshot", limit=1)
        assert reply["snapshot"]["tree"]["id"] == "app"
        assert len(reply["snapshot"]["tree"]["children"]) == 1
        assert reply["snapshot"]["uptime_seconds"] >= 0
        with pytest.raises(ControlError, match="unknown op") as unknown:
            await asyncio.to_thread(client.request, op="reboot")
        assert unknown.value.error == "UnknownOp"
        with pytest.raises(ControlError, match="limit") as bad:
            await asyncio.to_thread(client.request, op="snapshot", limit="all")
        assert bad.value.error == "InvalidRequest"
    assert not path.exists()


async def test_bad_requests_and_failures_are_answered_not_dropped(run_dir: Path) -> None:
    async def dispatch(request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "fail":
            raise LookupError("a bug")
        return {"echo": request["op"]}

    path = socket_path(run_dir, "raw")
    async with open_control_socket(path, dispatch):
        client = ControlClient(path)
        assert (await asyncio.to_thread(client.request, op="hi"))["echo"] == "hi"
        with pytest.raises(ControlError, match="a bug") as failed:
            await asyncio.to_thread(client.request, op="fail")
        assert failed.value.error == "LookupError"
        for line in (b"not json\n", b"[1, 2]\n"):
            reply = await asyncio.to_thread(_raw_request, path, line)
            assert json.loads(reply)["error"] == "InvalidRequest"


def _raw_request(path: Path, line: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(line)
        with sock.makefile("rb") as stream:
            return stream.readline()


async def test_a_stale_socket_is_replaced_and_a_live_one_is_not(node: Node, run_dir: Path) -> None:
    private_directory(run_dir)
    path = socket_path(run_dir, node.name)
    _stale_socket(path)
    with pytest.raises(ControlError) as stale:
        ControlClient(path).request(op="ping")
    assert stale.value.error == "Stale"
    async with open_inspection(node, run_dir):
        reply = await asyncio.to_thread(ControlClient(path).request, op="ping")
        assert reply["node"] == "test"
        with pytest.raises(SocketInUse):
            async with open_inspection(node, run_dir):
                pass
        # The live one was left alone. (This request also lets the server finish
        # accepting the probe above before it closes: Python 3.11 would leak it.)
        reply = await asyncio.to_thread(ControlClient(path).request, op="ping")
        assert reply["node"] == "test"


class Ready(Actor):
    """Tells the test that the tree it closes is up."""

    started: asyncio.Event

    async def on_start(self) -> None:
        Ready.started.set()


def ready_tree() -> Any:
    Ready.started = asyncio.Event()
    return supervisor("app", [child(Worker, name="db"), child(Ready)], name="app")


async def test_an_inspectable_node_serves_while_it_runs(run_dir: Path) -> None:
    node = InspectableNode("served", control_directory=run_dir)
    path = socket_path(run_dir, "served")
    serving = asyncio.create_task(node.serve(ready_tree()))
    await asyncio.wait_for(Ready.started.wait(), 5)  # the socket opens before the root starts
    reply = await asyncio.to_thread(ControlClient(path).request, op="snapshot")
    assert reply["snapshot"]["node"] == "served"
    node.request_stop()
    assert await asyncio.wait_for(serving, 10) == 0
    assert not path.exists()


async def test_an_inspectable_node_runs_without_a_socket_it_cannot_have(
    run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with Node("twin") as other, open_inspection(other, run_dir):
        node = InspectableNode("twin", control_directory=run_dir)
        serving = asyncio.create_task(node.serve(ready_tree()))
        await asyncio.wait_for(Ready.started.wait(), 5)
        node.request_stop()
        assert await asyncio.wait_for(serving, 10) == 0
        assert "`enotime status` cannot see this node" in caplog.text
        reply = await asyncio.to_thread(
            ControlClient(socket_path(run_dir, "twin")).request, op="ping"
        )
        assert reply["pid"] == os.getpid()  # still the first node's socket


def _stale_socket(path: Path) -> None:
    """A socket file nobody listens on, as a killed node leaves it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))


def test_socket_names_carry_the_pid_and_odd_names_are_quoted(run_dir: Path) -> None:
    path = socket_path(run_dir, "a/b@c %d", pid=42)
    assert path.parent == run_dir
    assert path.name == "a%2Fb%40c%20%25d@42.sock"
    assert parse_socket_path(path) == ("a/b@c %d", 42)
    assert socket_path(run_dir, "n") == run_dir / f"n@{os.getpid()}.sock"
    for other in ("n.sock", "@1.sock", "n@x.sock", "n@1.txt"):
        assert parse_socket_path(run_dir / other) is None
    with pytest.raises(ValueError, match="longer than 107 bytes"):
        socket_path(run_dir, "n" * 120)
    with pytest.raises(ValueError, match="empty"):
        socket_path(run_dir, "")


async def test_sockets_left_by_dead_namesakes_are_removed(node: Node, run_dir: Path) -> None:
    private_directory(run_dir)
    dead = socket_path(run_dir, node.name, pid=2**22 + 1)
    _stale_socket(dead)
    _stale_socket(socket_path(run_dir, "someone-else", pid=2**22 + 1))
    async with open_inspection(node, run_dir) as path:
        names = [(name, p) for name, _, p in await asyncio.to_thread(node_sockets, run_dir)]
        assert names == [("someone-else", names[0][1]), ("test", path)]


def test_the_runtime_directory_is_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNTIME_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert runtime_directory() == Path("/run/user/1000/enotime")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert runtime_directory() == Path.home() / ".enotime" / "run"
    monkeypatch.setenv(RUNTIME_DIR_ENV, "/tmp/elsewhere")
    assert runtime_directory() == Path("/tmp/elsewhere")


def test_a_private_directory_is_made_private(run_dir: Path) -> None:
    run_dir.mkdir(mode=0o755)
    run_dir.chmod(0o755)
    private_directory(run_dir)
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700


# -- the command ------------------------------------------------------------------------------


def status(run_dir: Path, *args: str) -> int:
    return main(["status", "--dir", str(run_dir), *args])


def test_no_node_running_is_a_clear_error(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status(run_dir) == 1
    err = capsys.readouterr().err
    assert "no node is running" in err
    assert "enotime run" in err
    assert status(run_dir, "--node", "x") == 1
    assert "no node named 'x' is running (no node is running)" in capsys.readouterr().err


def test_a_stale_socket_is_reported_and_removed(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private_directory(run_dir)
    gone = socket_path(run_dir, "gone", pid=4242)
    _stale_socket(gone)
    assert status(run_dir, "--node", "gone") == 1
    err = capsys.readouterr().err
    assert "node 'gone' (pid 4242) is not running: its control socket is stale (removed it)" in err
    assert "no node named 'gone' is running (no node is running)" in err
    assert not gone.exists()
    _stale_socket(gone)
    assert status(run_dir) == 1
    err = capsys.readouterr().err
    assert "stale" in err
    assert "no node is running" in err
    assert not gone.exists()


async def test_the_command_shows_one_node_lists_several_and_prints_json(
    node: Node, run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await node.start(tree())
    async with open_inspection(node, run_dir):
        assert await asyncio.to_thread(status, run_dir) == 0
        out = capsys.readouterr().out
        assert out.startswith("node test  pid ")
        assert "|-- pool (one_for_all, 7 in 3 s)" in out

        assert await asyncio.to_thread(status, run_dir, "--json") == 0
        [snap] = json.loads(capsys.readouterr().out)["nodes"]
        assert snap["tree"]["id"] == "app"

        async with Node("second") as second, open_inspection(second, run_dir):
            assert await asyncio.to_thread(status, run_dir) == 0
            out = capsys.readouterr().out
            assert [line.split()[0] for line in out.splitlines()[:3]] == [
                "NODE",
                "second",
                "test",
            ]
            assert "enotime status --node NAME" in out

            assert await asyncio.to_thread(status, run_dir, "--all") == 0
            out = capsys.readouterr().out
            assert "node second  pid" in out
            assert "node test  pid" in out

            assert await asyncio.to_thread(status, run_dir, "--node", "test", "--json") == 0
            assert [s["node"] for s in json.loads(capsys.readouterr().out)["nodes"]] == ["test"]

            assert await asyncio.to_thread(status, run_dir, "--node", "third") == 1
            assert "(running: second, test)" in capsys.readouterr().err
            # A last request to each: the probes above are served before the servers close.
            assert await asyncio.to_thread(status, run_dir, "--all") == 0


def test_node_and_all_exclude_each_other(run_dir: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        status(run_dir, "--node", "a", "--all")
    assert exited.value.code == 2
