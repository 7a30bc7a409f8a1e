"""Monitors across nodes, and ``noconnection`` when the watched node vanishes.

Two ``Node`` objects in one process, each with its own transport, parametrised
over ``LocalTransport`` and ``AmqpTransport`` on the real RabbitMQ (skipped with
the reason on a laptop, failed in CI), as in ``test_remote_refs``. Every wait
is on a :class:`~enotime.testing.Probe` with a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from enotime import Actor, Gateway, Node, handler
from enotime._gateway import AGENT, _Agent, _Ping
from enotime.errors import RemoteCrash
from enotime.messages import Down
from enotime.testing import Probe
from tests.contract.test_transport import WAIT
from tests.integration._nodes import Nodes, open_nodes

HEARTBEAT: dict[str, Any] = {
    "heartbeat_interval": 0.1,
    "heartbeat_misses": 3,
    "heartbeat_timeout": 0.1,
}
SLACK = 2.0  # seconds beyond the bound for the Down to be handled on a loaded machine


@dataclass(frozen=True)
class Crash:
    text: str


@dataclass(frozen=True)
class Quit:
    pass


class Victim(Actor):
    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop()


@pytest.fixture(params=["local", "amqp"])
async def nodes(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Nodes]:
    async with open_nodes(request.param, require_service, **HEARTBEAT) as made:
        yield made


def gateway(node: Node) -> Gateway:
    assert node.gateway is not None
    return node.gateway


async def settled(node: Node) -> None:
    async with asyncio.timeout(WAIT):
        await gateway(node).settled()


def agent_watches(node: Node) -> int:
    ref = gateway(node)._agent
    assert ref is not None
    agent: _Agent = ref._proc.actor  # type: ignore[assignment]
    return len(agent._watches)


def no_monitor_tasks(node: Node) -> bool:
    gw = gateway(node)
    return not gw._heartbeats and not gw._watch_tasks and not gw._watched


async def test_a_remote_crash_arrives_as_down_with_the_crash(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    probe = await Probe.start(a)
    remote = a.remote("b", "victim")
    monitor = probe.monitor(remote)
    await settled(a)
    assert agent_watches(b) == 1
    victim.send(Crash("boom"))
    down = await probe.expect(Down, timeout=WAIT)
    assert down.monitor is monitor
    assert down.ref == remote
    assert down.reason.kind == "crash"
    error = down.reason.exception
    assert isinstance(error, RemoteCrash)
    assert (error.type_name, error.text) == ("RuntimeError", "boom")
    assert not monitor.active
    assert agent_watches(b) == 0
    assert no_monitor_tasks(a)


async def test_a_remote_normal_stop_arrives_as_down_normal(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    probe = await Probe.start(a)
    probe.monitor(a.remote("b", "victim"))
    await settled(a)
    victim.send(Quit())
    down = await probe.expect(Down, timeout=WAIT)
    assert down.reason.kind == "normal"
    assert down.reason.exception is None
    assert no_monitor_tasks(a)


async def test_an_unknown_remote_actor_is_down_noproc(nodes: Nodes) -> None:
    a, _ = await nodes.node("a"), await nodes.node("b")
    probe = await Probe.start(a)
    monitor = probe.monitor(a.remote("b", "nobody"))
    down = await probe.expect(Down, timeout=WAIT)
    assert down.monitor is monitor
    assert down.reason.kind == "noproc"
    await settled(a)
    assert no_monitor_tasks(a)


async def test_demonitor_cancels_on_both_sides(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    cancelled, kept = await Probe.start(a), await Probe.start(a)
    remote = a.remote("b", "victim")
    monitor = cancelled.monitor(remote)
    kept.monitor(remote)
    await settled(a)
    assert agent_watches(b) == 2
    cancelled._actor.demonitor(monitor)
    # A call flushes a's earlier sends (the Unwatch) and is handled after them.
    assert await a.remote("b", AGENT).call(_Ping(), timeout=WAIT) is True
    assert agent_watches(b) == 1
    victim.send(Crash("boom"))
    assert (await kept.expect(Down, timeout=WAIT)).reason.kind == "crash"
    assert cancelled.received_nothing()
    assert no_monitor_tasks(a)


async def test_a_closed_remote_gateway_is_down_noconnection_within_the_bound(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await b.spawn(Victim, name="victim")
    probe = await Probe.start(a)
    monitor = probe.monitor(a.remote("b", "victim"))
    await settled(a)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    await gateway(b).aclose()  # b's node and its actor live on, unreachable
    down = await probe.expect(Down, timeout=WAIT)
    assert loop.time() - gone <= gateway(a).noconnection_after + SLACK
    assert down.monitor is monitor
    assert down.reason.kind == "noconnection"
    assert no_monitor_tasks(a)


async def test_a_vanished_node_is_down_noconnection_and_nothing_leaks(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await b.spawn(Victim, name="victim")
    await b.spawn(Victim, name="other")
    tasks_before = asyncio.all_tasks()
    probe = await Probe.start(a)
    probe.monitor(a.remote("b", "victim"))
    probe.monitor(a.remote("b", "other"))
    await settled(a)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    await nodes.transports["b"].aclose()  # b vanishes without a word
    downs = [await probe.expect(Down, timeout=WAIT) for _ in range(2)]
    assert loop.time() - gone <= gateway(a).noconnection_after + SLACK
    assert {down.reason.kind for down in downs} == {"noconnection"}
    assert {down.ref for down in downs} == {a.remote("b", "victim"), a.remote("b", "other")}
    assert no_monitor_tasks(a)
    leaked = asyncio.all_tasks() - tasks_before - {asyncio.current_task(), probe.ref._proc.task}
    assert not leaked


async def test_closing_the_watching_gateway_fires_noconnection_and_stops_its_tasks(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await b.spawn(Victim, name="victim")
    probe = await Probe.start(a)
    probe.monitor(a.remote("b", "victim"))
    await settled(a)
    assert gateway(a)._heartbeats
    await gateway(a).aclose()
    assert (await probe.expect(Down, timeout=WAIT)).reason.kind == "noconnection"
    assert no_monitor_tasks(a)
    late = probe.monitor(a.remote("b", "victim"))  # after close: noconnection at once
    assert (await probe.expect(Down, timeout=WAIT)).monitor is late


async def test_heartbeat_options_are_checked() -> None:
    async with Node("x") as node:
        with pytest.raises(ValueError, match="heartbeat_timeout"):
            Gateway(node, None, heartbeat_interval=0.1, heartbeat_timeout=0.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="heartbeat_misses"):
            Gateway(node, None, heartbeat_misses=0)  # type: ignore[arg-type]
