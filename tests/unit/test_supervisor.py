"""Supervision by OTP's rules: strategies, restart types, intensity, ordered start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field
from typing import Any

import pytest

from enotime import (
    KILLED,
    SHUTDOWN,
    Actor,
    ActorRef,
    DynamicSupervisor,
    ExitReason,
    Node,
    Restart,
    Strategy,
    Supervisor,
    child,
    count_children,
    delete_child,
    handler,
    restart_child,
    start_child,
    supervisor,
    terminate_child,
    which_children,
)
from enotime.errors import ActorExited, ChildNotFound, Refused, StartFailed
from enotime.testing import ManualClock


@dataclass
class Journal:
    """What the children did, in order, plus switches that make them misbehave."""

    events: list[str] = field(default_factory=list)
    fail_start: set[str] = field(default_factory=set)
    fail_stop: set[str] = field(default_factory=set)
    hang_stop: set[str] = field(default_factory=set)
    started: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Crash:
    pass


@dataclass(frozen=True)
class Quit:
    pass


class Member(Actor):
    def __init__(self, label: str, journal: Journal) -> None:
        self.label = label
        self.journal = journal

    async def on_start(self) -> None:
        if self.label in self.journal.fail_start:
            raise RuntimeError(f"{self.label} cannot start")
        self.journal.events.append(f"start {self.label}")
        self.journal.started.set()

    async def on_stop(self, reason: ExitReason) -> None:
        if self.label in self.journal.hang_stop:
            await asyncio.Event().wait()
        self.journal.events.append(f"stop {self.label}")
        if self.label in self.journal.fail_stop:
            raise RuntimeError(f"{self.label} crashed while stopping")

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(f"{self.label} crashed")

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop()


def members(journal: Journal, *labels: str, **options: Any) -> list[Any]:
    return [child(Member, label, journal, id=label, name=label, **options) for label in labels]


async def crash(node: Node, sup: ActorRef[Any], label: str, message: object = Crash()) -> None:
    """Make child ``label`` stop, then wait until ``sup`` has handled its exit."""
    ref = node.lookup(label)
    ref.send(message)
    await ref.wait_stopped(1)
    with contextlib.suppress(ActorExited):  # it may give up on this exit
        await which_children(sup)  # the supervisor handles the Exit before this call


@pytest.fixture
def journal() -> Journal:
    return Journal()


async def test_children_start_in_order_and_stop_in_reverse_order(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a", "b", "c")))
    assert journal.events == ["start a", "start b", "start c"]
    await node.stop(sup)
    assert journal.events[3:] == ["stop c", "stop b", "stop a"]


async def test_one_for_one_restarts_only_the_child_that_stopped(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a", "b", "c")))
    old_a = node.lookup("a")
    await crash(node, sup, "b")
    assert journal.events[3:] == ["stop b", "start b"]
    assert node.lookup("a") == old_a
    assert [c.restarts for c in await which_children(sup)] == [0, 1, 0]


async def test_one_for_all_stops_the_others_in_reverse_order_and_restarts_all(
    node: Node, journal: Journal
) -> None:
    spec = supervisor("sup", members(journal, "a", "b", "c"), strategy=Strategy.ONE_FOR_ALL)
    sup = await node.start(spec)
    await crash(node, sup, "b")
    assert journal.events[3:] == [
        "stop b",
        "stop c",
        "stop a",
        "start a",
        "start b",
        "start c",
    ]


async def test_rest_for_one_restarts_the_child_and_those_started_after_it(
    node: Node, journal: Journal
) -> None:
    spec = supervisor("sup", members(journal, "a", "b", "c"), strategy=Strategy.REST_FOR_ONE)
    sup = await node.start(spec)
    await crash(node, sup, "b")
    assert journal.events[3:] == ["stop b", "stop c", "start b", "start c"]


async def test_a_permanent_child_is_restarted_even_after_a_normal_exit(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a")))
    await crash(node, sup, "a", Quit())
    assert journal.events == ["start a", "stop a", "start a"]


async def test_a_transient_child_is_restarted_only_after_an_abnormal_exit(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a", restart=Restart.TRANSIENT)))
    await crash(node, sup, "a")
    assert journal.events == ["start a", "stop a", "start a"]
    await crash(node, sup, "a", Quit())
    [info] = await which_children(sup)
    assert info.ref is None  # kept, not running
    assert journal.events[-1] == "stop a"


async def test_a_temporary_child_is_never_restarted_and_is_forgotten(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a", restart=Restart.TEMPORARY)))
    await crash(node, sup, "a")
    assert await which_children(sup) == []
    assert journal.events == ["start a", "stop a"]


async def test_more_restarts_than_allowed_in_the_window_make_the_supervisor_give_up(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a", "b"), max_restarts=2))
    for _ in range(2):
        await crash(node, sup, "a")
    assert sup.is_alive
    await crash(node, sup, "a")
    assert await sup.wait_stopped(1) == ExitReason.shutdown("reached_max_restart_intensity")
    assert journal.events[-1] == "stop b"  # it stopped its other children on the way out
    assert node.statistics().actors_alive == 0


async def test_restarts_spread_wider_than_the_window_never_exhaust_the_intensity(
    node: Node, journal: Journal, clock: ManualClock
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a"), max_restarts=1, max_seconds=5))
    for _ in range(4):
        await crash(node, sup, "a")
        clock.advance(6)
    assert sup.is_alive
    assert (await count_children(sup)).restarts_total == 4


async def test_a_child_that_fails_to_start_fails_the_supervisor_start_and_the_rest_stop(
    node: Node, journal: Journal
) -> None:
    journal.fail_start.add("b")
    with pytest.raises(StartFailed, match="child 'b'"):
        await node.start(supervisor("sup", members(journal, "a", "b", "c")))
    assert journal.events == ["start a", "stop a"]


async def test_a_failed_restart_counts_as_a_restart_until_the_supervisor_gives_up(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a"), max_restarts=3))
    journal.fail_start.add("a")
    node.lookup("a").send(Crash())
    assert await sup.wait_stopped(1) == ExitReason.shutdown("reached_max_restart_intensity")
    assert journal.events == ["start a", "stop a"]


async def test_escalation_through_three_levels_stops_the_root_and_the_node_exits_non_zero(
    node: Node, journal: Journal
) -> None:
    leaf = supervisor("leaf", members(journal, "w"), max_restarts=1)
    mid = supervisor("mid", [leaf], max_restarts=1)
    tree = supervisor("root", [mid], max_restarts=1, name="root")
    serving = asyncio.ensure_future(node.serve(tree))
    await asyncio.wait_for(journal.started.wait(), 1)
    root = node.lookup("root")
    journal.fail_start.add("w")
    node.kill(node.lookup("w"))
    assert await asyncio.wait_for(serving, 2) == 1
    assert root.exit_reason == ExitReason.shutdown("reached_max_restart_intensity")


async def test_a_child_crashing_in_on_stop_does_not_stop_its_siblings_from_stopping(
    node: Node, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    journal.fail_stop.add("b")
    sup = await node.start(supervisor("sup", members(journal, "a", "b", "c")))
    await node.stop(sup)
    assert journal.events[3:] == ["stop c", "stop b", "stop a"]
    assert "b crashed while stopping" in caplog.text


async def test_a_child_that_does_not_stop_in_time_is_killed(node: Node, journal: Journal) -> None:
    journal.hang_stop.add("a")
    sup = await node.start(supervisor("sup", members(journal, "a", shutdown=0.05)))
    a = node.lookup("a")
    await node.stop(sup)
    assert a.exit_reason == KILLED
    assert "stop a" not in journal.events


async def test_brutal_kill_stops_a_child_without_on_stop(node: Node, journal: Journal) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a", shutdown="brutal_kill")))
    await node.stop(sup)
    assert journal.events == ["start a"]


async def test_supervisors_nest_and_a_subtree_restarts_as_one_child(
    node: Node, journal: Journal
) -> None:
    tree = supervisor(
        "root",
        [supervisor("inner", members(journal, "a", "b"), max_restarts=0), *members(journal, "c")],
    )
    root = await node.start(tree)
    await crash(node, root, "a")  # inner gives up at once; root restarts inner
    assert await which_children(root) != []
    assert journal.events[3:] == ["stop a", "stop b", "start a", "start b"]


class Tree(Supervisor):
    strategy = Strategy.REST_FOR_ONE
    max_restarts = 5

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def child_specs(self) -> list[Any]:
        return members(self.journal, "x", "y")


async def test_a_supervisor_subclass_declares_its_children_and_strategy(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(child(Tree, journal))
    stats = await count_children(sup)
    assert (stats.strategy, stats.children, stats.running) == (Strategy.REST_FOR_ONE, 2, 2)


async def test_children_can_be_terminated_restarted_and_deleted_by_id(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", members(journal, "a", "b")))
    await terminate_child(sup, "a")
    assert journal.events[-1] == "stop a"
    with pytest.raises(Refused, match="running"):
        await delete_child(sup, "b")
    await restart_child(sup, "a")
    await terminate_child(sup, "a")
    await delete_child(sup, "a")
    assert [c.id for c in await which_children(sup)] == ["b"]
    with pytest.raises(ChildNotFound):
        await terminate_child(sup, "a")


async def test_a_child_added_at_run_time_is_supervised_like_the_others(
    node: Node, journal: Journal
) -> None:
    sup = await node.start(supervisor("sup", []))
    [spec] = members(journal, "late")
    await start_child(sup, spec)
    await crash(node, sup, "late")
    assert journal.events == ["start late", "stop late", "start late"]
    with pytest.raises(Refused, match="already has a child 'late'"):
        await start_child(sup, spec)


async def test_a_dynamic_supervisor_restarts_its_children_and_caps_their_number(
    node: Node, journal: Journal
) -> None:
    sup = await node.spawn(DynamicSupervisor, max_children=2)
    await start_child(sup, child(Member, "d1", journal, name="d1"))
    await start_child(sup, child(Member, "d2", journal, name="d2", restart=Restart.TEMPORARY))
    with pytest.raises(Refused, match="max_children=2"):
        await start_child(sup, child(Member, "d3", journal))
    await crash(node, sup, "d1")
    await crash(node, sup, "d2")
    assert [c.ref is not None for c in await which_children(sup)] == [True]
    assert journal.events == ["start d1", "start d2", "stop d1", "start d1", "stop d2"]


async def test_a_dynamic_supervisor_stops_all_its_children_when_it_stops(
    node: Node, journal: Journal
) -> None:
    sup = await node.spawn(DynamicSupervisor)
    for i in range(5):
        await start_child(sup, child(Member, f"n{i}", journal))
    assert await node.stop(sup) == SHUTDOWN
    assert sorted(e for e in journal.events if e.startswith("stop")) == [
        f"stop n{i}" for i in range(5)
    ]


async def test_serve_stops_the_tree_in_reverse_order_on_sigterm_and_exits_zero(
    node: Node, journal: Journal
) -> None:
    tree = supervisor("root", members(journal, "a", "b"), name="root")
    serving = asyncio.ensure_future(node.serve(tree))
    await asyncio.wait_for(journal.started.wait(), 1)
    await which_children(node.lookup("root"))  # the root has finished starting
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(serving, 2) == 0
    assert journal.events == ["start a", "start b", "stop b", "stop a"]


async def test_serve_exits_non_zero_when_the_root_cannot_start(
    node: Node, journal: Journal
) -> None:
    journal.fail_start.add("a")
    assert await node.serve(supervisor("root", members(journal, "a"))) == 1
