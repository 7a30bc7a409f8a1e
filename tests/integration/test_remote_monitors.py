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
from typing import NoReturn

import pytest

from enotime import Actor, Gateway, Node, handler
from enotime._gateway import AGENT, _Ping
from enotime.errors import RemoteCrash
from enotime.messages import Down
from enotime.testing import Probe
from tests.contract.test_transport import WAIT
from tests.integration._nodes import (
    HEARTBEAT,
    PATIENT,
    Nodes,
    agent_watches,
    gateway,
    gateway_v1_registry,
    handled,
    open_nodes,
    settled,
)

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


@pytest.fixture(params=["local", "amqp"])
async def patient(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Nodes]:
    """Nodes whose heartbeats give up only after 10 s: a fast restart must be noticed otherwise."""
    async with open_nodes(request.param, require_service, **PATIENT) as made:
        yield made


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


async def test_the_watched_node_drops_the_watches_of_a_vanished_watcher_within_the_bound(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    other = await b.spawn(Victim, name="other")
    probe = await Probe.start(a)
    probe.monitor(a.remote("b", "victim"))
    probe.monitor(a.remote("b", "other"))
    await settled(a)
    assert gateway(b).statistics().remote_watches == 2
    assert victim.statistics().monitors == 1  # b's agent watches it for a
    # b heartbeats the node it watches actors for, as both ends of a link do.
    heartbeat = gateway(b)._heartbeats["a"]
    loop = asyncio.get_running_loop()
    gone = loop.time()
    await nodes.transports["a"].aclose()  # a vanishes without a word: no Unwatch ever comes
    async with asyncio.timeout(WAIT):
        await heartbeat  # b's heartbeats to a give up
    assert loop.time() - gone <= gateway(b).noconnection_after + SLACK
    stats = gateway(b).statistics()
    assert (stats.remote_watches, stats.watches_dropped, stats.nodes_lost) == (0, 2, 1)
    assert agent_watches(b) == 0
    assert (victim.statistics().monitors, other.statistics().monitors) == (0, 0)
    assert no_monitor_tasks(b)


async def test_the_watched_node_heartbeats_a_watcher_only_while_it_holds_its_watches(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    await b.spawn(Victim, name="other")
    probe = await Probe.start(a)
    probe.monitor(a.remote("b", "victim"))
    cancelled = probe.monitor(a.remote("b", "other"))
    await settled(a)
    assert "a" in gateway(b)._heartbeats
    probe._actor.demonitor(cancelled)
    await handled(b, a)  # the Unwatch
    assert gateway(b).statistics().remote_watches == 1
    assert "a" in gateway(b)._heartbeats
    victim.send(Quit())
    assert (await probe.expect(Down, timeout=WAIT)).reason.kind == "normal"
    # The last watch ended with its actor: b stops heartbeating a; nothing was dropped.
    assert no_monitor_tasks(b)
    stats = gateway(b).statistics()
    assert (stats.remote_watches, stats.watches_dropped) == (0, 0)


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


async def test_a_node_restarted_within_the_bound_is_down_noconnection_at_once(
    patient: Nodes,
) -> None:
    a, b = await patient.node("a"), await patient.node("b")
    await a.spawn(Victim, name="victim")
    probe = await Probe.start(b)
    monitor = probe.monitor(b.remote("a", "victim"))
    await settled(b)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    a = await patient.restart("a")  # a new incarnation answers b's heartbeats at once
    down = await probe.expect(Down, timeout=WAIT)
    assert loop.time() - gone < gateway(b).noconnection_after / 2  # not by missed heartbeats
    assert down.monitor is monitor
    assert down.reason.kind == "noconnection"
    stats = gateway(b).statistics()
    assert (stats.nodes_restarted, stats.nodes_lost, stats.remote_monitors) == (1, 0, 0)
    assert no_monitor_tasks(b)

    victim = await a.spawn(Victim, name="victim")  # the new node's actor of that name
    fresh = probe.monitor(b.remote("a", "victim"))
    await settled(b)
    assert fresh.active
    victim.send(Crash("after the restart"))
    down = await probe.expect(Down, timeout=WAIT)
    assert down.monitor is fresh
    assert down.reason.kind == "crash"
    assert gateway(b).statistics().nodes_restarted == 1
    assert no_monitor_tasks(b)


async def test_a_monitor_set_up_on_the_new_incarnation_survives_the_restart_notice(
    patient: Nodes,
) -> None:
    a, b = await patient.node("a"), await patient.node("b")
    await a.spawn(Victim, name="old")
    old_probe, new_probe = await Probe.start(b), await Probe.start(b)
    old_probe.monitor(b.remote("a", "old"))
    await settled(b)
    a = await patient.restart("a")
    victim = await a.spawn(Victim, name="victim")
    new_probe.monitor(b.remote("a", "victim"))  # may be answered before any heartbeat is
    assert (await old_probe.expect(Down, timeout=WAIT)).reason.kind == "noconnection"
    await settled(b)
    await handled(a, b)
    assert new_probe.received_nothing()
    victim.send(Quit())
    assert (await new_probe.expect(Down, timeout=WAIT)).reason.kind == "normal"


async def test_a_restarted_watching_node_leaves_no_watches_behind(patient: Nodes) -> None:
    a, b = await patient.node("a"), await patient.node("b")
    victim = await a.spawn(Victim, name="victim")
    old = await Probe.start(b)  # its node vanishes with its watch held on a
    old.monitor(b.remote("a", "victim"))
    await settled(b)
    assert agent_watches(a) == 1
    b = await patient.restart("b")
    probe = await Probe.start(b)
    probe.monitor(b.remote("a", "victim"))  # the new incarnation's Watch names it
    await settled(b)
    assert agent_watches(a) == 1  # the watch of b's previous incarnation was dropped
    stats = gateway(a).statistics()
    assert (stats.nodes_restarted, stats.watches_dropped, stats.remote_watches) == (1, 1, 1)
    victim.send(Crash("boom"))
    assert (await probe.expect(Down, timeout=WAIT)).reason.kind == "crash"
    assert agent_watches(a) == 0


async def test_a_node_that_speaks_only_v1_is_monitored_with_v1(nodes: Nodes) -> None:
    old = await nodes.node("old", registry=gateway_v1_registry())  # cannot even decode a v2 request
    b = await nodes.node("b")
    victim = await old.spawn(Victim, name="victim")
    probe = await Probe.start(b)
    monitor = probe.monitor(b.remote("old", "victim"))
    await settled(b)
    assert monitor.active
    assert gateway(b)._legacy == {"old"}
    assert agent_watches(old) == 1
    await handled(old, b)
    assert monitor.active  # heartbeats are v1 pings now: answered
    victim.send(Crash("boom"))
    down = await probe.expect(Down, timeout=WAIT)
    assert down.monitor is monitor
    assert down.reason.kind == "crash"
