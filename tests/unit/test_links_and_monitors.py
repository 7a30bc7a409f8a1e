"""Links, monitors, exit signals, trap_exit and kill, as in Erlang."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from enotime import KILLED, NOPROC, NORMAL, SHUTDOWN, Actor, ActorRef, ExitReason, Node, handler
from enotime.messages import Down, Exit
from enotime.testing import Probe


@dataclass(frozen=True)
class Crash:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class LinkTo:
    ref: ActorRef[Actor]


class Worker(Actor):
    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("worker crashed")

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop()

    @handler
    def link_to(self, msg: LinkTo) -> None:
        self.link(msg.ref)


class Trapper(Worker):
    trap_exit = True

    @handler
    def on_exit(self, msg: Exit) -> None:
        pass


async def _linked_pair(node: Node, other: type[Worker] = Worker) -> tuple[ActorRef[Worker], ...]:
    a = await node.spawn(Worker)
    b = await node.spawn(other)
    await a.call(LinkTo(b))
    return a, b


async def test_an_abnormal_exit_stops_every_linked_actor_with_the_same_reason(node: Node) -> None:
    a, b = await _linked_pair(node)
    b.send(Crash())
    reason = await a.wait_stopped(1)
    assert reason.kind == "crash"
    assert isinstance(reason.exception, RuntimeError)


async def test_a_normal_exit_does_not_stop_a_linked_actor(node: Node) -> None:
    probe = await Probe.start(node)
    a = await node.spawn(Worker)
    probe.link(a)
    a.send(Quit())
    assert await a.wait_stopped(1) == NORMAL
    assert probe.ref.is_alive
    assert probe.ref.statistics().links == 0


async def test_trapping_exits_turns_the_signal_into_an_exit_message(node: Node) -> None:
    probe = await Probe.start(node, trap_exit=True)
    a = await node.spawn(Worker)
    probe.link(a)
    a.send(Crash())
    exit_message = await probe.expect(Exit)
    assert exit_message.sender == a
    assert exit_message.reason.kind == "crash"
    assert probe.ref.is_alive


async def test_a_trapping_actor_also_sees_normal_exits_of_its_links(node: Node) -> None:
    probe = await Probe.start(node, trap_exit=True)
    a = await node.spawn(Worker)
    probe.link(a)
    a.send(Quit())
    assert (await probe.expect(Exit)).reason == NORMAL


async def test_kill_cannot_be_trapped_and_links_see_killed(node: Node) -> None:
    watcher = await Probe.start(node, trap_exit=True)
    trapper = await node.spawn(Trapper)
    watcher.link(trapper)
    node.kill(trapper)
    assert await trapper.wait_stopped(1) == KILLED
    assert (await watcher.expect(Exit)).reason == KILLED


async def test_killed_propagates_to_a_non_trapping_link_which_dies_too(node: Node) -> None:
    a, b = await _linked_pair(node)
    node.kill(b)
    assert await a.wait_stopped(1) == KILLED


async def test_on_stop_does_not_run_after_kill(node: Node) -> None:
    ran: list[ExitReason] = []

    class Tidy(Worker):
        async def on_stop(self, reason: ExitReason) -> None:
            ran.append(reason)

    tidy = await node.spawn(Tidy)
    node.kill(tidy)
    await tidy.wait_stopped(1)
    assert ran == []


async def test_linking_to_a_dead_actor_delivers_noproc(node: Node) -> None:
    dead = await node.spawn(Worker)
    await node.stop(dead)
    probe = await Probe.start(node, trap_exit=True)
    probe.link(dead)
    exit_message = await probe.expect(Exit)
    assert exit_message.reason == NOPROC


async def test_unlinking_stops_the_propagation(node: Node) -> None:
    a, b = await _linked_pair(node)
    a._proc.actor.unlink(b)
    b.send(Crash())
    await b.wait_stopped(1)
    assert a.is_alive


async def test_an_exit_signal_from_outside_stops_a_non_trapping_actor(node: Node) -> None:
    a = await node.spawn(Worker)
    node.exit(a, NORMAL)  # ignored, as in Erlang
    assert a.is_alive
    node.exit(a, ExitReason.shutdown("maintenance"))
    assert await a.wait_stopped(1) == ExitReason.shutdown("maintenance")


async def test_a_monitor_delivers_down_with_the_reason(node: Node) -> None:
    probe = await Probe.start(node)
    a = await node.spawn(Worker)
    monitor = probe.monitor(a)
    a.send(Crash())
    down = await probe.expect(Down)
    assert down.monitor is monitor
    assert down.ref == a
    assert isinstance(down.reason.exception, RuntimeError)
    assert probe.ref.is_alive  # monitors never propagate exits


async def test_monitoring_a_dead_actor_delivers_down_noproc_at_once(node: Node) -> None:
    probe = await Probe.start(node)
    a = await node.spawn(Worker)
    await node.stop(a)
    probe.monitor(a)
    assert (await probe.expect(Down)).reason == NOPROC


async def test_demonitor_means_no_down(node: Node) -> None:
    probe = await Probe.start(node)
    a = await node.spawn(Worker)
    dropped = probe.monitor(a)
    kept = probe.monitor(a)
    probe._actor.demonitor(dropped)
    node.exit(a, SHUTDOWN)
    down = await probe.expect(Down)
    assert down.monitor is kept
    assert probe.received_nothing()


async def test_a_watcher_that_dies_leaves_nothing_behind_on_the_target(node: Node) -> None:
    a = await node.spawn(Worker)
    probe = await Probe.start(node)
    probe.monitor(a)
    assert a.statistics().monitors == 1
    await node.stop(probe.ref)
    assert a.statistics().monitors == 0


@pytest.mark.parametrize("trap", [False, True])
async def test_a_parent_exit_stops_its_linked_child_even_when_it_traps(
    node: Node, trap: bool
) -> None:
    spawned: list[ActorRef[Actor]] = []

    class Parent(Worker):
        async def on_start(self) -> None:
            spawned.append(await self.spawn(Trapper if trap else Worker, link=True))

    parent = await node.spawn(Parent)
    parent.send(Crash())
    reason = await spawned[0].wait_stopped(1)
    assert reason.kind == "crash"


async def test_an_exit_signal_with_a_reason_that_is_not_an_exit_reason_is_a_type_error(
    node: Node,
) -> None:
    ref = await node.spawn(Worker)
    with pytest.raises(TypeError, match="SHUTDOWN"):
        node.exit(ref, "shutdown")  # type: ignore[arg-type]
    assert ref.is_alive
