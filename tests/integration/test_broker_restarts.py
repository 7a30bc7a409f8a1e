"""The broker closes the nodes' connections (``rabbitmqctl close_connection``) mid-traffic.

Two nodes on the real RabbitMQ exchange sends and calls both ways without
pause; the test closes both nodes' connections the way an operator would,
finding them by the connection name the AMQP transport gives them
(``enotime:<node>``). The robust connections come back; every call is
answered or raises an error the caller can retry (``CallTimeout``,
``PublishFailed``) and is answered on retry; every send the broker accepted
(not in the sender's dead letters) is delivered at least once, and the sends
that were not accepted are delivered once the sender sends them again. A
monitor across the nodes, with a bound longer than the cut, does not fire.

Needs ``rabbitmqctl`` allowed to control the broker (root, or the broker's
Erlang cookie): skipped with the reason otherwise, failed in CI
(``ENOTIME_REQUIRE_SERVICES=1``). Node ids are unique to the test, so only
its own connections are closed on a shared broker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from enotime import Actor, Gateway, Node, handler
from enotime.errors import CallTimeout
from enotime.messages import Request
from enotime.testing import Probe
from enotime.transport import AmqpTransport, PublishFailed, message
from tests.contract.test_transport import AMQP_URL, WAIT, _amqp_answers
from tests.integration._nodes import Nodes, open_nodes

pytestmark = pytest.mark.services

RETRYABLE = (CallTimeout, PublishFailed)
"""What a call may raise while the connection is down: not answered, ask again."""
CALL_TIMEOUT = 3.0  # a reply lost with the connection surfaces as CallTimeout after this
ROUNDS = 20  # calls answered each way before the cut, and again after the reconnection
GENEROUS: dict[str, Any] = {  # the monitor's bound (11 s) outlasts the cut
    "heartbeat_interval": 1.0,
    "heartbeat_misses": 10,
    "heartbeat_timeout": 1.0,
}


@message("test.broker.Note", version=1)
@dataclass(frozen=True)
class Note:
    seq: int


@message("test.broker.Echo", version=1)
@dataclass(frozen=True)
class Echo(Request[int]):
    seq: int


class Sink(Actor):
    """Records the notes it gets (a set: redeliveries are expected); echoes calls."""

    def __init__(self) -> None:
        self.notes: set[int] = set()
        self.changed = asyncio.Event()

    @handler
    def note(self, msg: Note) -> None:
        self.notes.add(msg.seq)
        self.changed.set()

    @handler
    def echo(self, msg: Echo) -> int:
        return msg.seq

    async def holds(self, wanted: set[int]) -> None:
        """Return once every note in ``wanted`` has arrived."""
        while not wanted <= self.notes:
            self.changed.clear()
            await self.changed.wait()


@dataclass
class Traffic:
    """One direction's traffic: notes sent, calls answered, and what had to be retried."""

    sent: list[int] = field(default_factory=list)
    answered: int = 0
    retried: collections.Counter[str] = field(default_factory=collections.Counter)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    goal: int = ROUNDS


# -- rabbitmqctl --------------------------------------------------------------------------


def _rabbitmqctl() -> str | None:
    found = shutil.which("rabbitmqctl")
    if found is None and os.access("/usr/sbin/rabbitmqctl", os.X_OK):
        found = "/usr/sbin/rabbitmqctl"
    return found


def _run(ctl: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ctl, "-q", *args], capture_output=True, text=True, timeout=WAIT, check=False
    )


_CONNECTION_NAME = re.compile(r'\{"connection_name","([^"]*)"\}')


def _connections(ctl: str) -> dict[str, list[str]]:
    """Connection pids by connection name (the ``connection_name`` client property).

    The table format, not JSON: only its pids (``<rabbit@host.N.N.N>``) are
    what ``close_connection`` accepts.
    """
    done = _run(ctl, "-s", "list_connections", "pid", "client_properties")
    if done.returncode != 0:
        raise RuntimeError(
            f"rabbitmqctl list_connections failed (exit {done.returncode}): {done.stderr.strip()}"
        )
    found: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        pid, _, properties = line.partition("\t")
        if (name := _CONNECTION_NAME.search(properties)) is not None:
            found.setdefault(name.group(1), []).append(pid)
    return found


def _close(ctl: str, pid: str) -> None:
    done = _run(ctl, "close_connection", pid, "test")
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl close_connection {pid} failed: {done.stderr.strip()}")


@pytest.fixture
def rabbitmqctl(require_service: Callable[[str], NoReturn]) -> str:
    """The path of a ``rabbitmqctl`` that may list and close the broker's connections."""
    if (reason := _amqp_answers()) is not None:
        require_service(reason)
    host = urlsplit(AMQP_URL).hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        require_service(f"rabbitmqctl controls the local broker; the tests use the one on {host}")
    ctl = _rabbitmqctl()
    if ctl is None:
        require_service("rabbitmqctl is not installed: cannot close broker connections")
    try:
        _connections(ctl)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        require_service(f"rabbitmqctl may not control the broker here: {exc}")
    return ctl


@pytest.fixture
async def nodes(
    rabbitmqctl: str, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Nodes]:
    async with open_nodes("amqp", require_service, **GENEROUS) as made:
        yield made


async def close_connections(ctl: str, names: list[str]) -> None:
    """Close the broker connections of the nodes ``names``, as an operator would."""
    found = await asyncio.to_thread(_connections, ctl)
    pids = [pid for name in names for pid in found.get(f"enotime:{name}", [])]
    assert len(pids) == len(names), (names, found)  # one robust connection per transport
    await asyncio.gather(*(asyncio.to_thread(_close, ctl, pid) for pid in pids))


# -- the traffic ---------------------------------------------------------------------------


async def flowing(drivers: list[asyncio.Task[None]], *events: asyncio.Event) -> None:
    """Wait for ``events``; if a driver stops first (a non-retryable error), raise its error."""
    waiter = asyncio.ensure_future(asyncio.gather(*(event.wait() for event in events)))
    try:
        async with asyncio.timeout(WAIT):
            watched: list[asyncio.Future[Any]] = [waiter, *drivers]
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    for driver in drivers:
        if driver.done():
            driver.result()


def gateway(node: Node) -> Gateway:
    assert node.gateway is not None
    return node.gateway


async def drive(src: Node, dst: str, traffic: Traffic, stop: asyncio.Event) -> None:
    """Send a note and make a call to ``dst``'s sink, again and again, until ``stop``."""
    transport = gateway(src).transport
    assert isinstance(transport, AmqpTransport)
    sink = src.remote(dst, "sink")
    seq = 0
    while not stop.is_set():
        sink.send(Note(seq))  # not accepted by the broker: a dead letter on src
        traffic.sent.append(seq)
        while True:
            try:
                assert await sink.call(Echo(seq), timeout=CALL_TIMEOUT) == seq
                break
            except RETRYABLE as exc:
                traffic.retried[type(exc).__name__] += 1
                await asyncio.sleep(0.05)  # the caller's retry back-off -- noqa: sleep-ok
                async with asyncio.timeout(WAIT):
                    await transport.connection.connected.wait()
        traffic.answered += 1
        if traffic.answered >= traffic.goal:
            traffic.progress.set()
        seq += 1


def sinks(*nodes: Node) -> dict[str, Sink]:
    found = {}
    for node in nodes:
        ref = node.whereis("sink")
        assert ref is not None
        actor = ref._proc.actor
        assert isinstance(actor, Sink)
        found[node.name] = actor
    return found


def not_accepted(node: Node) -> set[int]:
    """The notes ``node`` could not publish (the broker did not accept them)."""
    return {letter.message.seq for letter in node.dead_letters if isinstance(letter.message, Note)}


async def test_closed_broker_connections_reconnect_and_lose_no_accepted_message(
    nodes: Nodes, rabbitmqctl: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"cut{tag}a", f"cut{tag}b"]
    a, b = await nodes.node(names[0]), await nodes.node(names[1])
    for node in (a, b):
        await node.spawn(Sink, name="sink")
    transports = {name: nodes.transports[name] for name in names}
    back = {name: asyncio.Event() for name in names}
    for name, transport in transports.items():
        assert isinstance(transport, AmqpTransport)
        event = back[name]  # after the transport's own callback: it has counted the reconnection
        transport.connection.reconnect_callbacks.add(lambda *_, event=event: event.set())
    watcher = await Probe.start(b)
    monitor = watcher.monitor(b.remote(a.name, "sink"))
    async with asyncio.timeout(WAIT):
        await gateway(b).settled()

    stop = asyncio.Event()
    traffic = {a.name: Traffic(), b.name: Traffic()}  # by sending node
    drivers = [
        asyncio.create_task(drive(a, b.name, traffic[a.name], stop)),
        asyncio.create_task(drive(b, a.name, traffic[b.name], stop)),
    ]
    try:
        await flowing(drivers, *(way.progress for way in traffic.values()))
        for way in traffic.values():  # traffic flows: now cut it, both nodes at once
            way.progress.clear()
            way.goal = way.answered + ROUNDS
        await close_connections(rabbitmqctl, names)
        await flowing(drivers, *back.values())  # both reconnected
        await flowing(drivers, *(way.progress for way in traffic.values()))  # and it flows again
    finally:
        stop.set()
        async with asyncio.timeout(WAIT + CALL_TIMEOUT):
            await asyncio.gather(*drivers)  # a non-retryable error fails the test here

    for node in (a, b):
        async with asyncio.timeout(WAIT):
            await gateway(node)._flushed()  # every note queued was published, or dead-lettered
    got = sinks(a, b)
    for src, dst in ((a, b), (b, a)):
        sent = set(traffic[src.name].sent)
        lost = not_accepted(src)
        async with asyncio.timeout(WAIT):
            await got[dst.name].holds(sent - lost)  # every accepted note arrived
        for seq in sorted(lost):  # the sender sends again what was not accepted
            src.remote(dst.name, "sink").send(Note(seq))
        async with asyncio.timeout(WAIT):
            await got[dst.name].holds(sent)
        assert traffic[src.name].answered == len(sent)  # every call answered, in the end

    for name, transport in transports.items():
        stats = transport.statistics()
        assert (stats.reconnects, stats.connected) == (1, True), name
    assert monitor.active  # the cut was shorter than the monitor's bound
    assert watcher.received_nothing()
    for node in (a, b):
        seen = gateway(node).statistics()
        assert (seen.nodes_lost, seen.nodes_restarted) == (0, 0), node
