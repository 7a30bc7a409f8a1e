"""Links across nodes: exit signals both ways, unlink, ``noproc`` and ``noconnection``.

Two ``Node`` objects in one process, each with its own transport, parametrised
over ``LocalTransport`` and ``AmqpTransport`` on the real RabbitMQ (skipped with
the reason on a laptop, failed in CI), as in ``test_remote_monitors``. Every
wait is on a :class:`~enotime.testing.Probe`, a queue or a call, with a timeout.

To know that a node has handled what another sent it, a test calls the
receiving node's agent (``Ping``) from the sending node: a call waits for the
sends queued before it and is handled after them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from enotime import Actor, Node, RemoteRef, child, handler, supervisor, which_children
from enotime._gateway import _RemoteLink
from enotime.errors import NotSupportedAcrossNodes, RemoteCrash
from enotime.messages import Down, Exit, Request
from enotime.testing import Probe
from enotime.transport import message
from tests.contract.test_transport import WAIT
from tests.integration._nodes import (
    HEARTBEAT,
    PATIENT,
    Nodes,
    gateway,
    gateway_v1_registry,
    handled,
    open_nodes,
    settled,
)

SLACK = 2.0  # seconds beyond the bound for the exit signal to be handled on a loaded machine


@dataclass(frozen=True)
class Crash:
    text: str


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class LinkTo(Request[None]):
    ref: RemoteRef


@dataclass(frozen=True)
class LinkAndCrash:
    ref: RemoteRef


@message("test.links.Hello", version=1)
@dataclass(frozen=True)
class Hello:
    text: str


class Victim(Actor):
    """Crashes or stops when told; links to what it is told to."""

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop()

    @handler
    def link_to(self, msg: LinkTo) -> None:
        self.link(msg.ref)

    @handler
    def link_and_crash(self, msg: LinkAndCrash) -> None:
        self.link(msg.ref)
        raise RuntimeError("right after linking")


class Client(Victim):
    """A supervised child: reports each incarnation's ref as it starts."""

    def __init__(self, started: asyncio.Queue[Any]) -> None:
        self.started = started

    async def on_start(self) -> None:
        self.started.put_nowait(self.ref)


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


def halves(node: Node) -> list[_RemoteLink]:
    return list(gateway(node)._links.values())


def quiet(node: Node) -> bool:
    """No link, monitor, heartbeat or pending request across nodes left on ``node``."""
    gw = gateway(node)
    return not gw._links and not gw._watched and not gw._heartbeats and not gw._watch_tasks


def assert_crash(reason: Any, text: str) -> None:
    assert reason.kind == "crash"
    error = reason.exception
    assert isinstance(error, RemoteCrash)
    assert (error.type_name, error.text) == ("RuntimeError", text)


async def test_a_remote_crash_kills_the_linked_local_actor_and_its_links(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    linker = await a.spawn(Victim)
    buddy = await linker._proc.actor.spawn(Victim, link=True)  # linked to the linker, locally
    probe = await Probe.start(a)
    probe.monitor(linker)
    probe.monitor(buddy)
    await linker.call(LinkTo(a.remote("b", "victim")), timeout=WAIT)
    await settled(a)
    assert len(halves(a)) == len(halves(b)) == 1
    assert linker.statistics().links == 2  # the buddy and the remote victim
    assert gateway(a).statistics().remote_links == 1
    assert gateway(a).statistics().remote_monitors == 0
    victim.send(Crash("boom"))
    downs = {down.ref: down for down in [await probe.expect(Down, timeout=WAIT) for _ in "12"]}
    assert_crash(downs[linker].reason, "boom")
    assert_crash(downs[buddy].reason, "boom")  # the remote reason propagates to local links
    assert quiet(a)
    assert quiet(b)


async def test_a_trapping_local_actor_gets_exit_with_the_remote_ref_and_reason(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    probe = await Probe.start(a, trap_exit=True)
    remote = a.remote("b", "victim")
    probe.link(remote)
    probe.link(remote)  # a link is a set: linking again changes nothing
    await settled(a)
    assert len(halves(a)) == len(halves(b)) == 1
    victim.send(Crash("boom"))
    exit_ = await probe.expect(Exit, timeout=WAIT)
    assert exit_.sender == remote
    assert_crash(exit_.reason, "boom")
    assert probe.ref.is_alive
    assert probe.ref.statistics().links == 0
    assert quiet(a)
    assert quiet(b)


async def test_a_local_crash_kills_the_remote_linked_actor(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    watcher = await Probe.start(b, trap_exit=True, name="watcher")
    observer = await Probe.start(b)
    observer.monitor(victim)
    linker = await a.spawn(Victim)  # unnamed: the other node names it by pid
    await linker.call(LinkTo(a.remote("b", "victim")), timeout=WAIT)
    await linker.call(LinkTo(a.remote("b", "watcher")), timeout=WAIT)
    await settled(a)
    linker.send(Crash("bang"))
    assert_crash((await observer.expect(Down, timeout=WAIT)).reason, "bang")
    exit_ = await watcher.expect(Exit, timeout=WAIT)
    assert_crash(exit_.reason, "bang")
    assert isinstance(exit_.sender, RemoteRef)
    assert exit_.sender.address.name == gateway(a).node_id
    assert exit_.sender.address.actor.startswith("enotime.pid.")
    assert watcher.ref.is_alive
    await handled(a, b)
    assert quiet(a)
    assert quiet(b)


async def test_a_local_end_that_stops_while_its_link_travels_still_signals(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    observer = await Probe.start(b)
    observer.monitor(victim)
    linker = await a.spawn(Victim)
    linker.send(LinkAndCrash(a.remote("b", "victim")))
    assert_crash((await observer.expect(Down, timeout=WAIT)).reason, "right after linking")
    await settled(a)
    assert quiet(a)
    assert quiet(b)


async def test_an_unlink_while_the_link_travels_removes_the_far_half(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    probe = await Probe.start(a, trap_exit=True)
    remote = a.remote("b", "victim")
    probe.link(remote)
    probe._actor.unlink(remote)  # before b answered the link
    await settled(a)
    await handled(b, a)
    assert quiet(b)
    assert victim.statistics().links == 0
    assert quiet(a)


async def test_a_killed_local_end_reaches_the_other_node_as_killed(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    watcher = await Probe.start(b, trap_exit=True, name="watcher")
    linker = await a.spawn(Victim, name="linker")
    await linker.call(LinkTo(a.remote("b", "watcher")), timeout=WAIT)
    await settled(a)
    await a.kill_and_wait(linker)
    exit_ = await watcher.expect(Exit, timeout=WAIT)
    assert exit_.reason.kind == "killed"
    assert exit_.sender == b.remote("a", "linker")  # a named linker is named by its name


async def test_a_normal_exit_does_not_propagate(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    observer = await Probe.start(b)
    observer.monitor(victim)
    linker = await a.spawn(Victim)
    trapper = await Probe.start(a, trap_exit=True)
    await linker.call(LinkTo(a.remote("b", "victim")), timeout=WAIT)
    trapper.link(a.remote("b", "victim"))
    await settled(a)
    victim.send(Quit())
    assert (await observer.expect(Down, timeout=WAIT)).reason.kind == "normal"
    exit_ = await trapper.expect(Exit, timeout=WAIT)  # a trapping actor still hears of it
    assert exit_.reason.kind == "normal"
    await handled(a, b)
    assert linker.is_alive
    assert linker.statistics().links == 0
    assert quiet(a)


async def test_unlink_removes_both_halves(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    observer = await Probe.start(b)
    observer.monitor(victim)
    probe = await Probe.start(a, trap_exit=True)
    remote = a.remote("b", "victim")
    probe.link(remote)
    await settled(a)
    assert len(halves(b)) == 1
    probe._actor.unlink(remote)
    assert probe.ref.statistics().links == 0
    await handled(b, a)
    assert not halves(b)
    assert victim.statistics().links == 0
    victim.send(Crash("boom"))
    await observer.expect(Down, timeout=WAIT)
    await handled(a, b)
    assert probe.received_nothing()
    assert quiet(a)
    assert quiet(b)


async def test_the_other_end_can_reach_unlink_and_outlive_an_unnamed_linker(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    peer = await Probe.start(b, trap_exit=True, name="peer")
    probe = await Probe.start(a, trap_exit=True)  # unnamed
    probe.link(a.remote("b", "peer"))
    await settled(a)
    (half,) = halves(b)
    linker = half._remote  # how b names the unnamed probe on a
    linker.send(Hello("over here"))
    assert await probe.expect(Hello, timeout=WAIT) == Hello("over here")
    peer._actor.unlink(linker)  # from the far side
    await handled(a, b)
    assert not halves(a)
    assert probe.ref.statistics().links == 0
    await a.stop(probe.ref)
    await handled(b, a)
    assert peer.received_nothing()
    assert quiet(a)
    assert quiet(b)


async def test_linking_to_an_unknown_remote_actor_gives_noproc(nodes: Nodes) -> None:
    a, _ = await nodes.node("a"), await nodes.node("b")
    trapper = await Probe.start(a, trap_exit=True)
    nobody = a.remote("b", "nobody")
    trapper.link(nobody)
    exit_ = await trapper.expect(Exit, timeout=WAIT)
    assert exit_.sender == nobody
    assert exit_.reason.kind == "noproc"
    linker = await a.spawn(Victim)
    observer = await Probe.start(a)
    observer.monitor(linker)
    linker.send(LinkTo(nobody))
    assert (await observer.expect(Down, timeout=WAIT)).reason.kind == "noproc"
    await settled(a)
    assert quiet(a)
    with pytest.raises(NotSupportedAcrossNodes, match="link to a service"):
        trapper.link(a.service("counting"))


async def test_a_vanished_node_gives_noconnection_within_the_bound(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await b.spawn(Victim, name="victim")
    trapper = await Probe.start(a, trap_exit=True)
    linker = await a.spawn(Victim)
    observer = await Probe.start(a)
    observer.monitor(linker)
    trapper.link(a.remote("b", "victim"))
    await linker.call(LinkTo(a.remote("b", "victim")), timeout=WAIT)
    await settled(a)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    await nodes.transports["b"].aclose()  # b vanishes without a word
    exit_ = await trapper.expect(Exit, timeout=WAIT)
    down = await observer.expect(Down, timeout=WAIT)
    assert loop.time() - gone <= gateway(a).noconnection_after + SLACK
    assert exit_.reason.kind == "noconnection"
    assert exit_.sender == a.remote("b", "victim")
    assert down.reason.kind == "noconnection"
    assert quiet(a)


async def test_the_linked_node_sees_the_linking_node_vanish(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    observer = await Probe.start(b)
    observer.monitor(victim)
    linker = await a.spawn(Victim)
    await linker.call(LinkTo(a.remote("b", "victim")), timeout=WAIT)
    await settled(a)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    await nodes.transports["a"].aclose()  # a vanishes: b's heartbeats to it fail
    down = await observer.expect(Down, timeout=WAIT)
    assert loop.time() - gone <= gateway(b).noconnection_after + SLACK
    assert down.reason.kind == "noconnection"
    assert quiet(b)


async def test_closing_the_gateway_breaks_links_with_noconnection(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await b.spawn(Victim, name="victim")
    trapper = await Probe.start(a, trap_exit=True)
    trapper.link(a.remote("b", "victim"))
    await settled(a)
    await gateway(a).aclose()
    assert (await trapper.expect(Exit, timeout=WAIT)).reason.kind == "noconnection"
    assert quiet(a)
    trapper.link(a.remote("b", "victim"))  # after close: noconnection at once
    assert (await trapper.expect(Exit, timeout=WAIT)).reason.kind == "noconnection"


async def test_a_supervisor_restarts_a_child_whose_remote_worker_died(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    worker = await b.spawn(Victim, name="worker")
    started: asyncio.Queue[Any] = asyncio.Queue()
    sup = await a.start(supervisor("clients", [child(Client, started, name="client")]))
    first = await asyncio.wait_for(started.get(), WAIT)
    await first.call(LinkTo(a.remote("b", "worker")), timeout=WAIT)
    await settled(a)
    worker.send(Crash("worker down"))
    second = await asyncio.wait_for(started.get(), WAIT)
    assert second != first
    assert_crash(first.exit_reason, "worker down")
    (info,) = await which_children(sup)
    assert info.ref == second
    assert second.statistics().links == 1  # its supervisor only: a fresh incarnation
    assert quiet(a)


async def test_a_node_restarted_within_the_bound_breaks_its_links_with_noconnection(
    patient: Nodes,
) -> None:
    a, b = await patient.node("a"), await patient.node("b")
    await a.spawn(Victim, name="victim")
    trapper = await Probe.start(b, trap_exit=True)
    trapper.link(b.remote("a", "victim"))  # b asked: b's half learns a's incarnation from a
    watcher = await Probe.start(b, trap_exit=True, name="watcher")
    linker = await a.spawn(Victim)  # a asked: b's half learns it from a's Link request
    await linker.call(LinkTo(a.remote("b", "watcher")), timeout=WAIT)
    await settled(a)
    await settled(b)
    assert len(halves(b)) == 2
    loop = asyncio.get_running_loop()
    gone = loop.time()
    a = await patient.restart("a")  # a new incarnation answers b's heartbeats at once
    exits = [await probe.expect(Exit, timeout=WAIT) for probe in (trapper, watcher)]
    assert loop.time() - gone < gateway(b).noconnection_after / 2  # not by missed heartbeats
    assert [exit_.reason.kind for exit_ in exits] == ["noconnection", "noconnection"]
    assert exits[0].sender == b.remote("a", "victim")
    assert isinstance(exits[1].sender, RemoteRef)
    assert exits[1].sender.address.actor.startswith("enotime.pid.")
    stats = gateway(b).statistics()
    assert (stats.nodes_restarted, stats.nodes_lost, stats.remote_links) == (1, 0, 0)
    assert quiet(b)

    victim = await a.spawn(Victim, name="victim")  # links to the new node work
    trapper.link(b.remote("a", "victim"))
    await settled(b)
    assert len(halves(a)) == 1
    victim.send(Crash("after the restart"))
    assert_crash((await trapper.expect(Exit, timeout=WAIT)).reason, "after the restart")
    assert quiet(b)


async def test_a_link_from_the_restarted_node_is_kept_while_the_old_ones_break(
    patient: Nodes,
) -> None:
    a, b = await patient.node("a"), await patient.node("b")
    watcher = await Probe.start(b, trap_exit=True, name="watcher")
    linker = await a.spawn(Victim)
    await linker.call(LinkTo(a.remote("b", "watcher")), timeout=WAIT)
    await settled(a)
    a = await patient.restart("a")
    newcomer = await Probe.start(a, trap_exit=True)
    # Its Link request names the new incarnation, as do b's heartbeats: whichever b sees
    # first breaks the old link, never the new one.
    newcomer.link(a.remote("b", "watcher"))
    exit_ = await watcher.expect(Exit, timeout=WAIT)
    assert exit_.reason.kind == "noconnection"
    assert isinstance(exit_.sender, RemoteRef)
    assert exit_.sender.address.actor.startswith("enotime.pid.")
    await settled(a)
    assert len(halves(b)) == 1
    assert gateway(b).statistics().nodes_restarted == 1


async def test_a_link_to_a_node_that_speaks_only_v1_works(nodes: Nodes) -> None:
    old = await nodes.node("old", registry=gateway_v1_registry())  # cannot decode v2
    b = await nodes.node("b")
    victim = await old.spawn(Victim, name="victim")
    trapper = await Probe.start(b, trap_exit=True, name="trapper")
    trapper.link(b.remote("old", "victim"))  # b asks v2, is refused as unknown, asks v1
    await settled(b)
    assert gateway(b)._legacy == {"old"}
    assert len(halves(old)) == 1
    victim.send(Crash("boom"))
    assert_crash((await trapper.expect(Exit, timeout=WAIT)).reason, "boom")
    assert quiet(b)
