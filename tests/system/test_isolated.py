"""``isolated(...)``: one actor of an in-node tree in its own OS process, on the real RabbitMQ.

Most tests run the parent node in this process (connected to its own
exchange), so that they can watch its supervisors; the isolated processes
are real ``enotime run`` nodes that import ``tests/system/_isolated_trees.py``.
One test runs the whole tree with ``enotime run --amqp`` and calls it from
here. Every process a test starts carries a marker of the test's own in its
environment; after the parent node stopped, none may be alive.

Every wait is on an answer, a stop, a PID's exit (a pidfd) or an output
line, with a deadline: no sleep-and-hope.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from enotime import (
    ExitReason,
    Node,
    RequestContext,
    Restart,
    child,
    request_context,
    supervisor,
)
from enotime._control_socket import RUNTIME_DIR_ENV
from enotime._supervisor import ChildInfo, WhichChildren
from enotime.errors import ActorExited, StartFailed
from enotime.process import (
    IsolatedProxy,
    isolated,
    isolated_process,
    marked_pids,
    reap_marked,
)
from enotime.process._isolated import NODE_MARGIN, TEARDOWN_MARGIN
from enotime.transport import (
    Address,
    AmqpTransport,
    Keyring,
    LocalBroker,
    LocalTransport,
    RemoteError,
    UnknownMessageType,
)
from enotime.transport._keys import ENV_VAR as WIRE_KEYS_ENV
from tests.system._isolated_trees import (
    Bystander,
    Crunch,
    Cruncher,
    Die,
    Note,
    Notes,
    Pid,
    Unhandled,
)
from tests.system.test_run_connected import MARKER_VAR as RUN_MARKER_VAR
from tests.system.test_run_connected import Cluster, NodeProcess

ROOT = Path(__file__).resolve().parents[2]
TREES = "tests.system._isolated_trees"
MARKER_VAR = "ENOTIME_TEST_ISOLATED"
WAIT = 20.0
"""Seconds any one answer, stop or restart may take."""


# -- fixtures and helpers ------------------------------------------------------------------


@dataclass
class Parent:
    """A node of this process, connected to the test's exchange, and the test's marker."""

    node: Node
    marker: str

    def child_node(self, name: str = "cruncher") -> str:
        return f"{self.node.name}-{name}"

    async def leftovers(self) -> list[int]:
        return await asyncio.to_thread(marked_pids, self.marker, MARKER_VAR)


@pytest.fixture
async def parent(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Parent]:
    """The parent node, connected to RabbitMQ; its processes carry the test's marker.

    The isolated processes inherit this process's environment (marker, and
    the ``PYTHONPATH`` that imports the trees) but not the wire keys: those
    come from the parent's transport. After the test, the node is closed;
    whatever a failed test left is killed by PID.
    """
    from enotime.transport._amqp import AmqpTransport

    marker = uuid.uuid4().hex
    # The isolated processes' `enotime status` sockets go to a directory of the test's own,
    # not the user's: a killed one leaves its socket file behind.
    runtime = Path(tempfile.mkdtemp(prefix="enotime-run-"))
    monkeypatch.setenv(RUNTIME_DIR_ENV, str(runtime))
    monkeypatch.setenv(MARKER_VAR, marker)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv(WIRE_KEYS_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    name = cluster.name("par")
    cluster.node_names += [name, f"{name}-cruncher"]
    keyring = Keyring.parse(cluster.env[WIRE_KEYS_ENV])
    transport = AmqpTransport(cluster.url, name, keyring=keyring, exchange=cluster.exchange)
    await transport.open()
    node = Node(name, shutdown_timeout=WAIT)
    try:
        await node.connect(transport)
        yield Parent(node, marker)
    finally:
        try:
            await node.aclose()
            await transport.aclose()
        finally:
            await asyncio.to_thread(reap_marked, marker, 0.5, MARKER_VAR)
            shutil.rmtree(runtime, ignore_errors=True)


async def which_children(sup: Any) -> list[ChildInfo]:
    """``which_children`` with a deadline that allows for a restart queued before it."""
    children: list[ChildInfo] = await sup.call(WhichChildren(), timeout=WAIT)
    return children


def _wait_exited(pids: list[int], timeout: float = WAIT) -> None:
    """Return once every PID has exited (pidfds, no polling); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
        finally:
            os.close(fd)
        assert ready, f"process {pid} still alive after {timeout} s"


def _wait_unmarked(marker: str, var: str, timeout: float = WAIT) -> None:
    """Return once no process carries ``marker`` (waits on pidfds); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while pids := marked_pids(marker, var):
        assert time.monotonic() < deadline, f"processes still alive: {pids}"
        _wait_exited(pids, max(deadline - time.monotonic(), 0.0))


async def _until_queue_gone(node: Node, node_name: str, actor: str) -> None:
    """Return once the broker has no queue for ``actor`` on ``node_name``; fail after WAIT."""
    import aio_pika

    gateway = node.gateway
    assert gateway is not None
    transport = gateway.transport
    assert isinstance(transport, AmqpTransport)
    queue = transport.queue_name(Address.actor_on(node_name, actor))
    deadline = time.monotonic() + WAIT
    while True:
        channel = await transport.connection.channel()
        try:
            await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return  # NOT_FOUND: gone
        await channel.close()
        assert time.monotonic() < deadline, f"queue {queue} still on the broker after {WAIT} s"
        await asyncio.sleep(0.05)  # a bounded poll of the broker -- noqa: sleep-ok


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _innermost(error: BaseException) -> BaseException:
    """The exception at the bottom of a chain of start failures."""
    while isinstance(error, StartFailed) and error.reason.exception is not None:
        error = error.reason.exception
    return error


# -- one isolated child in a tree ------------------------------------------------------------


async def test_an_isolated_child_answers_from_its_own_process(parent: Parent) -> None:
    node = parent.node
    root = await node.start(
        supervisor(
            "tree",
            [child(Bystander, name="bystander"), isolated(Cruncher, "sum", name="cruncher")],
        )
    )
    proxy = node.lookup("cruncher")
    assert proxy.actor_class is IsolatedProxy

    with request_context(RequestContext("req-7")):
        answer = await proxy.call(Crunch(10), timeout=WAIT)
    match = re.fullmatch(r"sum 45 pid (\d+) request req-7", answer)  # the context crossed too
    assert match is not None, answer
    pid = int(match[1])
    assert pid != os.getpid()
    assert await node.lookup("bystander").call(Pid(), timeout=WAIT) == os.getpid()

    where = await isolated_process(proxy)
    assert (where.node, where.pid) == (parent.child_node(), pid)
    assert await where.ref.call(Pid(), timeout=WAIT) == pid  # the same actor, reached directly
    # The isolated process carries the test's marker: a child of this run.
    assert pid in await parent.leftovers()

    # Sends are forwarded in order, and a later call does not overtake them.
    for text in ("a", "b", "c"):
        proxy.send(Note(text))
    assert await proxy.call(Notes(), timeout=WAIT) == ["a", "b", "c"]

    # A remote refusal is the caller's error, not the proxy's crash.
    with pytest.raises(RemoteError) as refused:
        await proxy.call(Unhandled(), timeout=WAIT)
    assert refused.value.error_type == "UnhandledMessage"
    with pytest.raises(UnknownMessageType):
        await proxy.call(object(), timeout=WAIT)  # not a wire message: it cannot cross
    assert proxy.is_alive
    assert (await which_children(root))[1].restarts == 0

    await node.aclose()
    assert await parent.leftovers() == []
    assert not _alive(pid)


async def test_kill_9_of_the_process_restarts_it_by_the_supervisor(parent: Parent) -> None:
    node = parent.node
    root = await node.start(
        supervisor(
            "tree",
            [child(Bystander, name="bystander"), isolated(Cruncher, name="cruncher")],
            max_restarts=3,
            max_seconds=60,
        )
    )
    proxy = node.lookup("cruncher")
    bystander = node.lookup("bystander")
    first = await proxy.call(Pid(), timeout=WAIT)

    os.kill(first, signal.SIGKILL)
    reason = await proxy.wait_stopped(WAIT)
    assert reason.kind == "noconnection"
    assert reason.detail == f"process {first} of {parent.child_node()} exited: signal SIGKILL"
    children = await which_children(root)  # answered once the restart is done
    assert [(c.id, c.restarts) for c in children] == [("bystander", 0), ("cruncher", 1)]

    restarted = node.lookup("cruncher")
    assert restarted != proxy
    second = await restarted.call(Pid(), timeout=WAIT)
    assert second not in (first, os.getpid())
    assert await restarted.call(Crunch(4), timeout=WAIT) == f"sum 6 pid {second} request -"
    assert node.lookup("bystander") == bystander  # one_for_one: the neighbour is untouched
    assert not _alive(first)

    await node.aclose()
    assert await parent.leftovers() == []


@pytest.mark.timeout(90)
async def test_exceeding_the_restart_intensity_escalates(parent: Parent) -> None:
    node = parent.node
    inner = supervisor("inner", [isolated(Cruncher, name="cruncher")], max_restarts=1)
    outer = await node.start(supervisor("outer", [inner], max_restarts=1, max_seconds=60))
    inner_ref = node_child(await which_children(outer), "inner")
    pids = []
    for _ in range(2):  # the second kill is one restart too many for "inner"
        proxy = node.lookup("cruncher")
        pids.append(await proxy.call(Pid(), timeout=WAIT))
        os.kill(pids[-1], signal.SIGKILL)
        assert (await proxy.wait_stopped(WAIT)).kind == "noconnection"

    reason = await inner_ref.wait_stopped(WAIT)
    assert reason == ExitReason.shutdown("reached_max_restart_intensity")
    children = await which_children(outer)  # "outer" restarted "inner", which started a process
    assert [(c.id, c.restarts) for c in children] == [("inner", 1)]
    third = await node.lookup("cruncher").call(Pid(), timeout=WAIT)
    assert third not in pids
    assert [p for p in pids if _alive(p)] == []

    await node.aclose()
    assert await parent.leftovers() == []


def node_child(children: list[ChildInfo], child_id: str) -> Any:
    """The running ref of child ``child_id``."""
    ref = next(c.ref for c in children if c.id == child_id)
    assert ref is not None
    return ref


@pytest.mark.parametrize(("how", "status"), [("exit", "status 1"), ("segv", "signal SIGSEGV")])
async def test_a_crash_prone_handler_takes_only_its_own_process(
    parent: Parent, how: str, status: str
) -> None:
    node = parent.node
    root = await node.start(
        supervisor(
            "tree", [child(Bystander, name="bystander"), isolated(Cruncher, name="cruncher")]
        )
    )
    proxy, bystander = node.lookup("cruncher"), node.lookup("bystander")
    doomed = await proxy.call(Pid(), timeout=WAIT)

    with pytest.raises(ActorExited) as exited:  # the call in flight fails; the caller lives on
        await proxy.call(Die(how), timeout=WAIT)
    assert exited.value.reason.kind == "noconnection"
    assert (
        exited.value.reason.detail == f"process {doomed} of {parent.child_node()} exited: {status}"
    )
    assert [(c.id, c.restarts) for c in await which_children(root)] == [
        ("bystander", 0),
        ("cruncher", 1),
    ]
    assert node.lookup("bystander") == bystander
    assert await bystander.call(Pid(), timeout=WAIT) == os.getpid()
    assert await node.lookup("cruncher").call(Pid(), timeout=WAIT) != doomed

    await node.aclose()
    assert await parent.leftovers() == []


async def test_stopping_or_killing_the_proxy_stops_its_process(parent: Parent) -> None:
    node = parent.node
    root = await node.start(
        supervisor(
            "tree",
            [
                isolated(Cruncher, name="cruncher", restart=Restart.TEMPORARY),
                isolated(Cruncher, name="other", restart=Restart.TEMPORARY, shutdown="brutal_kill"),
            ],
        )
    )
    cruncher, other = node.lookup("cruncher"), node.lookup("other")
    stopped_pid = await cruncher.call(Pid(), timeout=WAIT)
    killed_pid = await other.call(Pid(), timeout=WAIT)

    # An orderly stop returns once the process is gone.
    assert await node.stop(cruncher, timeout=WAIT) == ExitReason("shutdown")
    assert not _alive(stopped_pid)
    # A kill skips on_stop: the process, and its process supervisor, go all the same, after.
    node.kill(other)
    await other.wait_stopped(WAIT)
    await asyncio.to_thread(_wait_unmarked, parent.marker, MARKER_VAR)
    assert not _alive(killed_pid)
    assert await which_children(root) == []  # temporary children: not restarted
    # ... and so does its queue, once the process is gone: nothing stays on the broker.
    await _until_queue_gone(node, parent.child_node("other"), "other")
    await node.aclose()


async def test_a_process_that_cannot_start_fails_the_start_and_leaves_nothing(
    parent: Parent,
) -> None:
    with pytest.raises(StartFailed) as failed:
        await parent.node.start(
            supervisor("tree", [isolated(f"{TREES}:NoSuchActor", name="cruncher")])
        )
    innermost = _innermost(failed.value)  # the proxy's own failure: its process exited
    assert isinstance(innermost, StartFailed)
    assert innermost.reason.kind == "noconnection"
    assert str(innermost.reason.detail).endswith(f"of {parent.child_node()} exited: status 1")
    assert await parent.leftovers() == []  # start means ready, or nothing left


# -- enotime run: a tree with an isolated child, called from another process ---------------------


async def _client(cluster: Cluster) -> tuple[Node, Any]:
    from enotime.transport._amqp import AmqpTransport

    name = cluster.name("cli")
    cluster.node_names.append(name)
    keyring = Keyring.parse(cluster.env[WIRE_KEYS_ENV])
    transport = AmqpTransport(cluster.url, name, keyring=keyring, exchange=cluster.exchange)
    await transport.open()
    node = Node(name)
    await node.connect(transport)
    return node, transport


async def _run_tree(cluster: Cluster, name: str) -> NodeProcess:
    cluster.node_names += [name, f"{name}-cruncher"]
    process = await NodeProcess.start(
        f"{TREES}:tree",
        "--name",
        name,
        "--amqp",  # the URL from ENOTIME_AMQP_URL
        "--amqp-exchange",
        cluster.exchange,
        env={**cluster.env, "ENOTIME_AMQP_URL": cluster.url},
    )
    cluster.processes.append(process)
    return process


async def test_enotime_run_tree_with_an_isolated_child(cluster: Cluster) -> None:
    name = cluster.name("app")
    tree = await _run_tree(cluster, name)
    tree_pid = int((await tree.expect(rf"^tree ready {name} (\d+)$"))[1])
    client, transport = await _client(cluster)
    try:
        answer = await client.remote(name, "cruncher").call(Crunch(100), timeout=WAIT)
        bystander = await client.remote(name, "bystander").call(Pid(), timeout=WAIT)
    finally:
        await client.aclose()
        await transport.aclose()
    assert answer.startswith("sum 4950 pid ")
    pid = int(answer.split(" pid ")[1].split()[0])
    assert pid not in (os.getpid(), tree_pid)
    assert bystander == tree_pid  # the neighbour lives in the tree's own process

    # Secrets reach the isolated process through its environment, never its command line.
    cmdline = (await asyncio.to_thread(Path(f"/proc/{pid}/cmdline").read_bytes)).split(b"\0")
    assert b"--amqp" in cmdline
    assert f"{name}-cruncher".encode() in cmdline
    joined = b" ".join(cmdline)
    assert cluster.url.encode() not in joined
    assert cluster.env[WIRE_KEYS_ENV].partition(":")[2].encode() not in joined

    assert await tree.stop() == 0, tree.output()
    assert await asyncio.to_thread(marked_pids, tree.marker, RUN_MARKER_VAR) == []
    queues = await cluster.queues()
    if queues is not None:  # the nodes' durable queues and the dead letters, by design...
        # ...but not the isolated node's: its proxy deletes it with the process.
        assert queues == cluster.left_by_design() - {f"{cluster.exchange}.node.{name}-cruncher"}


async def test_kill_9_of_the_parent_node_leaves_no_process(cluster: Cluster) -> None:
    name = cluster.name("app")
    tree = await _run_tree(cluster, name)
    await tree.expect(rf"^tree ready {name} \d+$")
    marked = await asyncio.to_thread(marked_pids, tree.marker, RUN_MARKER_VAR)
    assert len(marked) >= 3  # the node, its process supervisor's host, the isolated node...

    tree.process.kill()
    await tree.wait()
    # The process supervisor's host sees its stdin close and stops everything in order.
    await asyncio.to_thread(_wait_unmarked, tree.marker, RUN_MARKER_VAR)


# -- without a transport between processes ----------------------------------------------------


async def test_isolation_needs_a_connected_node() -> None:
    async with Node("alone") as node:
        with pytest.raises(StartFailed) as failed:
            await node.start(supervisor("tree", [isolated(Cruncher, name="cruncher")]))
    error = _innermost(failed.value)
    assert isinstance(error, RuntimeError)
    assert "node 'alone' is not connected" in str(error)
    assert "enotime run ... --amqp" in str(error)


async def test_isolation_needs_a_transport_across_processes() -> None:
    keyring = Keyring.generate()
    async with LocalTransport(LocalBroker(keyring), "local") as transport, Node("local") as node:
        await transport.open()
        await node.connect(transport)
        with pytest.raises(StartFailed) as failed:
            await node.start(supervisor("tree", [isolated(Cruncher, name="cruncher")]))
    error = _innermost(failed.value)
    assert isinstance(error, TypeError)
    assert "AmqpTransport" in str(error)
    assert "LocalTransport, which does not" in str(error)


# -- the child spec -------------------------------------------------------------------------------


class _Nested:
    class Inner(Cruncher):
        pass


def test_the_spec_names_the_actor_by_module_and_attribute() -> None:
    spec = isolated(Cruncher, "label", name="crunch-1", shutdown=3)
    assert (spec.id, spec.name, spec.factory) == ("crunch-1", "crunch-1", IsolatedProxy)
    assert spec.shutdown == 3 + NODE_MARGIN + TEARDOWN_MARGIN
    (isolation,) = spec.args
    assert isolation.target == "tests.system._isolated_trees:Cruncher"
    assert isolation.args == ("label",)
    same = isolated("tests.system._isolated_trees:Cruncher", "label", name="crunch-1", shutdown=3)
    assert same.args == spec.args
    assert isolated(Cruncher, name="x", shutdown="brutal_kill").shutdown == TEARDOWN_MARGIN


@pytest.mark.parametrize(
    ("actor", "error", "words"),
    [
        (_Nested.Inner, TypeError, "nested in a class"),
        ("no-colon", ValueError, "module:attribute"),
        ("module:", ValueError, "module:attribute"),
        (Cruncher.crunch, TypeError, "an Actor subclass"),
    ],
)
def test_an_actor_another_process_cannot_import_is_refused(
    actor: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        isolated(actor, name="x")


def test_a_local_class_is_refused() -> None:
    class Local(Cruncher):
        pass

    with pytest.raises(TypeError, match="defined inside a function"):
        isolated(Local, name="x")


def test_arguments_travel_as_json_and_names_are_checked() -> None:
    with pytest.raises(TypeError, match="as JSON"):
        isolated(Cruncher, object(), name="x")
    with pytest.raises(ValueError, match="A-Za-z0-9_-"):
        isolated(Cruncher, name="no.dots")
    with pytest.raises(ValueError, match="shutdown"):
        isolated(Cruncher, name="x", shutdown=-1)
    with pytest.raises(ValueError, match="shutdown"):
        isolated(Cruncher, name="x", shutdown="infinity")  # type: ignore[arg-type]
