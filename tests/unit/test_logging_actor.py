"""Every log record made by an actor names the actor and its node, at no cost to the kernel."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from enotime import Actor, ExitReason, Node, child, handler, supervisor
from enotime._logging import ActorLogFilter, configure_logging
from enotime.messages import Down, Request
from enotime.testing import Probe

log = logging.getLogger("app.logging_actor")


def entries(stream: io.StringIO, logger: str = "app.logging_actor") -> list[dict[str, Any]]:
    return [e for e in map(json.loads, stream.getvalue().splitlines()) if e["logger"] == logger]


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class SayLater:
    text: str


@dataclass(frozen=True)
class SayInThread:
    text: str


@dataclass(frozen=True)
class SayAs:
    text: str
    actor: str


@dataclass(frozen=True)
class Crash:
    pass


@dataclass(frozen=True)
class Sync(Request[None]):
    """Answered once every message sent before it was handled (mailboxes are FIFO)."""


class Talker(Actor):
    async def on_start(self) -> None:
        log.info("starting")

    async def on_stop(self, reason: ExitReason) -> None:
        log.info("stopping")

    @handler
    def say(self, msg: Say) -> None:
        log.info(msg.text)

    @handler
    async def say_as(self, msg: SayAs) -> None:
        log.info(msg.text, extra={"actor": msg.actor})

    @handler
    async def say_later(self, msg: SayLater) -> None:
        # A task of its own making is not the actor's task: its records carry no actor.
        await asyncio.create_task(_say(msg.text))

    @handler
    async def say_in_thread(self, msg: SayInThread) -> None:
        await asyncio.to_thread(log.info, msg.text)

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("boom")

    @handler
    def sync(self, msg: Sync) -> None:
        pass


async def _say(text: str) -> None:
    log.info(text)


async def test_records_of_a_named_actor_carry_its_name_and_node(
    node: Node, stream: io.StringIO
) -> None:
    configure_logging(json=True, stream=stream, node="configured")
    talker = await node.spawn(Talker, name="talker")
    talker.send(Say("hello"))
    await talker.call(Sync())
    await node.stop(talker)
    log.info("outside")
    got = [(e["message"], e["actor"], e["node"]) for e in entries(stream)]
    assert got == [
        ("starting", "talker", "test"),
        ("hello", "talker", "test"),
        ("stopping", "talker", "test"),
        ("outside", None, "configured"),
    ]


async def test_an_unnamed_actor_is_named_by_its_class(node: Node, stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    talker = await node.spawn(Talker)
    await node.stop(talker)
    assert {(e["actor"], e["node"]) for e in entries(stream)} == {("Talker", "test")}


async def test_a_name_registered_later_is_the_one_used(node: Node, stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    talker = await node.spawn(Talker)
    node.register("later", talker)
    talker.send(Say("hi"))
    await talker.call(Sync())
    await node.stop(talker)
    assert [e["actor"] for e in entries(stream)] == ["Talker", "later", "later"]


async def test_an_explicit_extra_wins(node: Node, stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    talker = await node.spawn(Talker, name="talker")
    talker.send(SayAs("hi", actor="someone"))
    await talker.call(Sync())
    await node.stop(talker)
    assert [e["actor"] for e in entries(stream) if e["message"] == "hi"] == ["someone"]


async def test_the_kernel_s_own_records_name_the_actor(node: Node, stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    tree = supervisor("root", [child(Talker, name="talker")], name="root")
    root = await node.start(tree)
    probe = await Probe.start(node)
    talker = node.lookup("talker")
    probe.monitor(talker)
    talker.send(Crash())
    await probe.expect(Down, timeout=5)
    await node.stop(root)
    crash = [e for e in entries(stream, "enotime.actor") if "crashed" in e["message"]]
    restart = [e for e in entries(stream, "enotime.supervisor") if "restarting" in e["message"]]
    assert [e["actor"] for e in crash] == ["talker"]
    assert "RuntimeError: boom" in crash[0]["exception"]
    assert [e["actor"] for e in restart] == ["root"]


async def test_tasks_and_threads_an_actor_starts_are_not_the_actor(
    node: Node, stream: io.StringIO
) -> None:
    configure_logging(json=True, stream=stream)
    talker = await node.spawn(Talker, name="talker")
    talker.send(SayLater("from a task"))
    talker.send(SayInThread("from a thread"))
    await talker.call(Sync())
    await node.stop(talker)
    got = {e["message"]: e["actor"] for e in entries(stream)}
    assert got["from a task"] is None
    assert got["from a thread"] is None


async def test_two_nodes_in_one_process_are_told_apart(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream, node="process")
    async with Node("left") as left, Node("right") as right:
        a = await left.spawn(Talker, name="a")
        b = await right.spawn(Talker, name="b")
        a.send(Say("from a"))
        b.send(Say("from b"))
        await a.call(Sync())
        await b.call(Sync())
        await left.stop(a)
        await right.stop(b)
    got = {e["message"]: (e["actor"], e["node"]) for e in entries(stream)}
    assert got["from a"] == ("a", "left")
    assert got["from b"] == ("b", "right")


async def test_human_lines_tag_the_actor_and_node(node: Node, stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    talker = await node.spawn(Talker, name="talker")
    talker.send(Say("hello there"))
    await talker.call(Sync())
    await node.stop(talker)
    log.info("outside")
    text = [line for line in stream.getvalue().splitlines() if "app.logging_actor" in line]
    assert text[1].endswith("app.logging_actor    [talker@test] hello there")
    assert text[-1].endswith("app.logging_actor    outside")


def test_the_filter_leaves_records_made_outside_an_event_loop_alone() -> None:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "msg", None, None)
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(ActorLogFilter().filter(record)))
    worker.start()
    worker.join(timeout=5)
    assert results == [True]
    assert not hasattr(record, "actor")
    assert not hasattr(record, "node")
