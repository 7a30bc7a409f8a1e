"""Sending, calling and handling messages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from enotime import NORMAL, Actor, ActorRef, ExitReason, Node, Overflow, handler
from enotime.errors import (
    ActorExited,
    ActorNotAlive,
    CallTimeout,
    MailboxFull,
    Refused,
    StartFailed,
    UnhandledMessage,
)
from enotime.messages import Request


@dataclass(frozen=True)
class Add(Request[int]):
    by: int


@dataclass(frozen=True)
class Get(Request[int]):
    pass


@dataclass(frozen=True)
class Double(Add):
    pass


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Crash:
    pass


@dataclass(frozen=True)
class Block(Request[str]):
    until: asyncio.Event
    entered: asyncio.Event | None = None


@dataclass(frozen=True)
class Boom(Request[None]):
    pass


class Counter(Actor):
    def __init__(self, start: int = 0) -> None:
        self.count = start
        self.notes: list[str] = []

    @handler
    def add(self, msg: Add) -> int:
        self.count += msg.by * (2 if isinstance(msg, Double) else 1)
        return self.count

    @handler
    async def get(self, msg: Get) -> int:
        await asyncio.sleep(0)  # a real await, not a wait -- noqa: sleep-ok
        return self.count

    @handler
    def note(self, msg: Note) -> None:
        self.notes.append(msg.text)

    @handler
    async def block(self, msg: Block) -> str:
        if msg.entered is not None:
            msg.entered.set()
        await msg.until.wait()
        return "done"

    @handler
    def boom(self, msg: Boom) -> None:
        raise ValueError("boom")


class NotEnough(Refused):
    pass


class Account(Actor):
    @handler
    def withdraw(self, msg: Add) -> int:
        raise NotEnough(f"cannot withdraw {msg.by}")

    @handler
    def get(self, msg: Get) -> int:
        return 42


async def test_call_returns_what_the_handler_returns_sync_or_async(node: Node) -> None:
    counter = await node.spawn(Counter, 10)
    assert await counter.call(Add(5)) == 15
    assert await counter.call(Get()) == 15


async def test_a_subclass_of_a_handled_type_goes_to_the_base_handler(node: Node) -> None:
    counter = await node.spawn(Counter)
    assert await counter.call(Double(3)) == 6


async def test_a_union_annotation_handles_each_member() -> None:
    class Either(Actor):
        @handler
        def either(self, msg: Note | Crash) -> str:
            return type(msg).__name__

    async with Node("union") as node:
        ref = await node.spawn(Either)
        assert await ref.call(Crash()) == "Crash"
        assert await ref.call(Note("x")) == "Note"


def test_a_handler_without_a_message_annotation_is_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match="needs a type annotation"):

        class Sloppy(Actor):
            @handler
            def anything(self, msg):  # type: ignore[no-untyped-def]
                pass


def test_a_handler_can_name_its_message_type_explicitly() -> None:
    class Explicit(Actor):
        @handler(Note)
        def on_note(self, msg: object) -> None:
            pass

    assert Note in Explicit._enotime_handlers


async def test_messages_from_one_sender_are_handled_in_the_order_sent(node: Node) -> None:
    counter = await node.spawn(Counter)
    for i in range(100):
        counter.send(Note(str(i)))
    counter.cast(Note("last"))
    await counter.call(Get())  # handled after every earlier message
    actor = counter._proc.actor
    assert isinstance(actor, Counter)
    assert actor.notes == [*map(str, range(100)), "last"]


async def test_an_unhandled_cast_goes_to_the_dead_letter_log_and_the_actor_lives_on(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    counter = await node.spawn(Counter)
    counter.send("not a message it knows")
    assert await counter.call(Get()) == 0
    [letter] = node.dead_letters
    assert letter.message == "not a message it knows"
    assert letter.recipient == counter
    assert letter.reason == "no handler"
    assert "dead letter" in caplog.text


async def test_an_unhandled_call_raises_unhandled_message(node: Node) -> None:
    counter = await node.spawn(Counter)
    with pytest.raises(UnhandledMessage, match="no handler for str"):
        await counter.call("what?")
    assert counter.is_alive


async def test_a_call_without_reply_in_time_raises_call_timeout_and_the_late_reply_is_dropped(
    node: Node,
) -> None:
    counter = await node.spawn(Counter)
    release = asyncio.Event()
    with pytest.raises(CallTimeout, match=r"did not reply to Block within 0\.05 s"):
        await counter.call(Block(release), timeout=0.05)
    release.set()
    assert await counter.call(Add(1)) == 1  # the late "done" went nowhere
    assert len(node._deadlines) == 0


async def test_a_call_to_a_dead_actor_fails_at_once_with_actor_not_alive(node: Node) -> None:
    counter = await node.spawn(Counter)
    await node.stop(counter)
    with pytest.raises(ActorNotAlive, match="is not alive"):
        await counter.call(Get(), timeout=None)


async def test_a_cast_to_a_dead_actor_is_a_dead_letter(node: Node) -> None:
    counter = await node.spawn(Counter)
    await node.stop(counter)
    counter.send(Note("late"))
    assert node.dead_letters[-1].message == Note("late")


async def test_every_pending_call_fails_with_actor_exited_when_the_actor_dies(
    node: Node,
) -> None:
    counter = await node.spawn(Counter)
    never, entered = asyncio.Event(), asyncio.Event()
    in_handler = asyncio.ensure_future(counter.call(Block(never, entered), timeout=None))
    await asyncio.wait_for(entered.wait(), 1)
    queued = asyncio.ensure_future(counter.call(Get(), timeout=None))
    await asyncio.sleep(0)  # one loop turn: the call reaches the mailbox -- noqa: sleep-ok
    node.kill(counter)
    for call in (in_handler, queued):
        with pytest.raises(ActorExited) as caught:
            await call
        assert caught.value.reason.kind == "killed"


async def test_a_crash_in_a_call_handler_stops_the_actor_and_the_caller_gets_actor_exited(
    node: Node,
) -> None:
    counter = await node.spawn(Counter)
    with pytest.raises(ActorExited) as caught:
        await counter.call(Boom())
    assert isinstance(caught.value.reason.exception, ValueError)
    reason = await counter.wait_stopped(1)
    assert reason.kind == "crash"


async def test_a_refusal_answers_the_caller_with_the_error_and_the_actor_lives_on(
    node: Node,
) -> None:
    account = await node.spawn(Account)
    with pytest.raises(NotEnough, match="cannot withdraw 5"):
        await account.call(Add(5))
    assert await account.call(Get()) == 42


async def test_a_refusal_of_a_send_is_a_dead_letter_and_the_actor_lives_on(node: Node) -> None:
    account = await node.spawn(Account)
    account.send(Add(5))
    assert await account.call(Get()) == 42
    [letter] = node.dead_letters
    assert letter.message == Add(5)
    assert "cannot withdraw 5" in letter.reason


async def test_spawn_returns_only_after_on_start_finished(node: Node) -> None:
    class Slow(Actor):
        ready = False

        async def on_start(self) -> None:
            await asyncio.sleep(0)  # a real await, not a wait -- noqa: sleep-ok
            self.ready = True

        @handler
        def get(self, msg: Get) -> bool:
            return self.ready

    ref = await node.spawn(Slow)
    actor = ref._proc.actor
    assert isinstance(actor, Slow)
    assert actor.ready


async def test_a_failing_on_start_raises_start_failed_and_frees_the_name(node: Node) -> None:
    class Broken(Actor):
        async def on_start(self) -> None:
            raise OSError("no database")

    with pytest.raises(StartFailed, match="no database") as caught:
        await node.spawn(Broken, name="broken")
    assert isinstance(caught.value.__cause__, OSError)
    assert node.whereis("broken") is None


async def test_a_failing_constructor_raises_start_failed(node: Node) -> None:
    with pytest.raises(StartFailed, match="Counter failed to start"):
        await node.spawn(Counter, "not", "ints")


async def test_on_stop_gets_the_reason(node: Node) -> None:
    reasons: list[ExitReason] = []

    class Quitter(Actor):
        @handler
        def quit(self, msg: Note) -> None:
            self.stop()

        @handler
        def boom(self, msg: Boom) -> None:
            raise ValueError("boom")

        async def on_stop(self, reason: ExitReason) -> None:
            reasons.append(reason)

    first = await node.spawn(Quitter)
    first.send(Note("bye"))
    assert await first.wait_stopped(1) == NORMAL
    second = await node.spawn(Quitter)
    second.send(Boom())
    await second.wait_stopped(1)
    assert reasons[0] == NORMAL
    assert isinstance(reasons[1].exception, ValueError)


class Bounded(Counter):
    mailbox_size = 2


async def _fill(
    node: Node, actor: type[Counter]
) -> tuple[asyncio.Event, tuple[ActorRef[Counter], asyncio.Future[str]]]:
    """Spawn ``actor`` and keep it busy so its mailbox fills up."""
    release, entered = asyncio.Event(), asyncio.Event()
    ref = await node.spawn(actor)
    busy = asyncio.ensure_future(ref.call(Block(release, entered)))
    await asyncio.wait_for(entered.wait(), 1)
    return release, (ref, busy)


async def test_a_full_mailbox_with_reject_refuses_the_sender(node: Node) -> None:
    release, (ref, busy) = await _fill(node, Bounded)
    ref.send(Note("1"))
    ref.send(Note("2"))
    with pytest.raises(MailboxFull, match="full \\(2 messages\\)"):
        ref.send(Note("3"))
    release.set()
    assert await busy == "done"


async def test_a_full_mailbox_with_drop_newest_dead_letters_the_new_message(node: Node) -> None:
    class DropNewest(Counter):
        mailbox_size = 1
        overflow = Overflow.DROP_NEWEST

    release, (ref, busy) = await _fill(node, DropNewest)
    ref.send(Note("kept"))
    ref.send(Note("dropped"))
    with pytest.raises(MailboxFull):
        await ref.call(Get())
    release.set()
    await busy
    assert [d.message for d in node.dead_letters] == [Note("dropped")]


async def test_a_full_mailbox_with_drop_oldest_dead_letters_the_oldest_message(node: Node) -> None:
    class DropOldest(Counter):
        mailbox_size = 1
        overflow = Overflow.DROP_OLDEST

    release, (ref, busy) = await _fill(node, DropOldest)
    ref.send(Note("old"))
    ref.send(Note("new"))
    release.set()
    await busy
    await ref.call(Get())
    assert [d.message for d in node.dead_letters] == [Note("old")]
    actor = ref._proc.actor
    assert isinstance(actor, Counter)
    assert actor.notes == ["new"]


async def test_statistics_count_handled_messages_and_mailbox_depth(node: Node) -> None:
    counter = await node.spawn(Counter, name="stats")
    await counter.call(Add(1))
    stats = counter.statistics()
    assert stats.actor_class == "Counter"
    assert stats.name == "stats"
    assert stats.messages_handled == 1
    assert stats.mailbox_depth == 0
    assert node.statistics().actors_by_class == {"Counter": 1}


async def test_an_actor_can_declare_which_errors_are_answers_rather_than_crashes(
    node: Node,
) -> None:
    class Parser(Actor):
        refusals = (ValueError,)

        @handler
        def parse(self, msg: Note) -> int:
            return int(msg.text)

    parser = await node.spawn(Parser)
    with pytest.raises(ValueError, match="invalid literal"):
        await parser.call(Note("not a number"))
    assert await parser.call(Note("42")) == 42


async def test_a_plain_tuple_is_a_message_like_any_other(node: Node) -> None:
    class Pairs(Actor):
        @handler
        def pair(self, msg: tuple) -> object:  # type: ignore[type-arg]
            return msg

    pairs = await node.spawn(Pairs)
    triple = ("a", None, None)  # shaped like the runtime's own envelopes
    assert await pairs.call(triple) == triple
    pairs.send(triple)
    assert await pairs.call((1, 2)) == (1, 2)
    assert node.dead_letters.maxlen
    assert not node.dead_letters
