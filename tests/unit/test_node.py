"""The node's own duties: closing down, statistics, dead letters."""

from __future__ import annotations

import asyncio

from enotime import KILLED, SHUTDOWN, Actor, ExitReason, Node


class Recorder(Actor):
    def __init__(self, label: str, log: list[str]) -> None:
        self.label = label
        self.log = log

    async def on_start(self) -> None:
        self.log.append(f"{self.label} started")

    async def on_stop(self, reason: ExitReason) -> None:
        self.log.append(f"{self.label} {reason}")


class Stubborn(Actor):
    async def on_stop(self, reason: ExitReason) -> None:
        await asyncio.Event().wait()


async def test_closing_a_node_stops_unsupervised_actors_newest_first() -> None:
    log: list[str] = []
    async with Node("closing") as node:
        for label in "abc":
            await node.spawn(Recorder, label, log)
    assert log[3:] == ["c shutdown", "b shutdown", "a shutdown"]
    assert node.statistics().actors_alive == 0


async def test_an_actor_that_does_not_stop_in_time_is_killed_when_the_node_closes() -> None:
    node = Node("closing", shutdown_timeout=0.05)
    async with node:
        stubborn = await node.spawn(Stubborn)
        polite = await node.spawn(Recorder, "polite", [])
    assert stubborn.exit_reason == KILLED
    assert polite.exit_reason == SHUTDOWN


async def test_statistics_count_spawns_crashes_and_dead_letters() -> None:
    async with Node("stats") as node:
        ref = await node.spawn(Recorder, "x", [])
        ref.send("unknown")
        await node.stop(ref)
        stats = node.statistics()
    assert (stats.spawned_total, stats.dead_letters_total, stats.actors_alive) == (1, 1, 0)
