"""Registered names, timers and the request context."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from enotime import (
    SHUTDOWN,
    Actor,
    ActorRef,
    Node,
    RequestContext,
    current_context,
    handler,
    request_context,
)
from enotime.errors import NameNotFound, NameTaken
from enotime.messages import Request
from enotime.testing import Probe


class Idle(Actor):
    pass


async def test_a_name_given_at_spawn_finds_the_actor(node: Node) -> None:
    ref = await node.spawn(Idle, name="idle")
    assert node.whereis("idle") == ref
    assert node.lookup("idle") == ref
    assert ref.name == "idle"
    assert node.registered() == ["idle"]


async def test_looking_up_an_unknown_name_raises_name_not_found(node: Node) -> None:
    assert node.whereis("nobody") is None
    with pytest.raises(NameNotFound, match="'nobody'"):
        node.lookup("nobody")


async def test_a_taken_name_cannot_be_registered_again(node: Node) -> None:
    first = await node.spawn(Idle, name="unique")
    with pytest.raises(NameTaken, match="already registered to <Idle#"):
        await node.spawn(Idle, name="unique")
    other = await node.spawn(Idle)
    with pytest.raises(NameTaken):
        node.register("unique", other)
    assert node.lookup("unique") == first


async def test_a_name_is_freed_when_its_actor_dies(node: Node) -> None:
    ref = await node.spawn(Idle, name="mortal")
    node.kill(ref)
    await ref.wait_stopped(1)
    assert node.whereis("mortal") is None
    again = await node.spawn(Idle, name="mortal")
    assert node.lookup("mortal") == again


async def test_register_and_unregister_by_hand(node: Node) -> None:
    ref = await node.spawn(Idle)
    node.register("late", ref)
    assert node.lookup("late") == ref
    node.unregister("late")
    assert ref.name is None
    with pytest.raises(NameNotFound):
        node.unregister("late")


@dataclass(frozen=True)
class Tick:
    n: int


async def test_send_after_delivers_the_message_later(node: Node) -> None:
    probe = await Probe.start(node)
    timer = node.send_after(0.01, probe.ref, Tick(1))
    assert timer.active
    assert await probe.expect(Tick) == Tick(1)
    assert not timer.active


async def test_a_cancelled_timer_delivers_nothing(node: Node) -> None:
    probe = await Probe.start(node)
    cancelled = node.send_after(0.01, probe.ref, Tick(1))
    node.send_after(0.02, probe.ref, Tick(2))
    assert cancelled.cancel()
    assert not cancelled.cancel()  # a second cancel reports it was not pending
    assert await probe.expect(Tick) == Tick(2)  # Tick(1) would have come first
    assert probe.received_nothing()


async def test_timers_to_an_actor_are_cancelled_when_it_dies(node: Node) -> None:
    probe = await Probe.start(node)
    timer = node.send_after(60, probe.ref, Tick(1))
    await node.stop(probe.ref)
    assert not timer.active


async def test_an_actor_schedules_messages_to_itself(node: Node) -> None:
    fired: list[int] = []

    class Alarm(Actor):
        async def on_start(self) -> None:
            self.send_after(0.01, Tick(7))

        @handler
        def tick(self, msg: Tick) -> None:
            fired.append(msg.n)
            self.stop()

    alarm = await node.spawn(Alarm)
    await alarm.wait_stopped(2)
    assert fired == [7]


@dataclass(frozen=True)
class WhoAsks(Request[str | None]):
    pass


@dataclass(frozen=True)
class Relay(Request[tuple[str | None, str | None]]):
    to: ActorRef[Actor]


class Echo(Actor):
    @handler
    def who(self, msg: WhoAsks) -> str | None:
        context = current_context()
        return context.request_id if context else None


class Relayer(Actor):
    @handler
    async def relay(self, msg: Relay) -> tuple[str | None, str | None]:
        mine = self.context.request_id if self.context else None
        return mine, await msg.to.call(WhoAsks())


async def test_the_request_context_travels_with_a_message_and_onward(node: Node) -> None:
    echo = await node.spawn(Echo)
    relayer = await node.spawn(Relayer)
    with request_context(RequestContext("req-1", {"sub": "alice"})):
        assert await relayer.call(Relay(echo)) == ("req-1", "req-1")
    assert current_context() is None


async def test_a_message_sent_without_a_context_sees_none_even_after_one_with(
    node: Node,
) -> None:
    echo = await node.spawn(Echo)
    with request_context(RequestContext("req-2")):
        assert await echo.call(WhoAsks()) == "req-2"
    assert await echo.call(WhoAsks()) is None


async def test_the_context_of_send_after_is_the_one_at_scheduling_time(node: Node) -> None:
    seen: list[str | None] = []

    class Recorder(Actor):
        @handler
        def tick(self, msg: Tick) -> None:
            context = current_context()
            seen.append(context.request_id if context else None)
            self.stop()

    recorder = await node.spawn(Recorder)
    with request_context(RequestContext("req-3")):
        node.send_after(0, recorder, Tick(0))
    await recorder.wait_stopped(1)
    assert seen == ["req-3"]


async def test_stop_returns_the_reason(node: Node) -> None:
    ref = await node.spawn(Idle)
    assert await node.stop(ref) == SHUTDOWN
    assert ref.exit_reason == SHUTDOWN
