"""Location transparency: refs to actors on other nodes, over the transport port.

Two (or three) ``Node`` objects in one process, each with its own transport,
parametrised over ``LocalTransport`` (a shared ``LocalBroker``) and
``AmqpTransport`` on the real RabbitMQ (skipped with the reason on a laptop,
failed in CI). Each test has its own exchange; its queues are deleted after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import NoReturn

import pytest

from enotime import (
    SHUTDOWN,
    Actor,
    RemoteRef,
    RequestContext,
    child,
    current_context,
    handler,
    request_context,
    supervisor,
)
from enotime.errors import CallTimeout, NotSupportedAcrossNodes, Refused
from enotime.messages import Request
from enotime.testing import Probe
from enotime.transport import RemoteError, message
from tests.contract.test_transport import WAIT
from tests.integration._nodes import Nodes, open_nodes


@message("test.remote.Add", version=1)
@dataclass(frozen=True)
class Add:
    amount: int


@message("test.remote.Total", version=1)
@dataclass(frozen=True)
class Total(Request[int]):
    pass


@message("test.remote.WhoAsks", version=1)
@dataclass(frozen=True)
class WhoAsks(Request[str]):
    pass


@message("test.remote.Where", version=1)
@dataclass(frozen=True)
class Where(Request[str]):
    n: int


@message("test.remote.Fragile", version=1)
@dataclass(frozen=True)
class Fragile(Request[int]):
    label: str


@message("test.remote.Slow", version=1)
@dataclass(frozen=True)
class Slow(Request[None]):
    pass


@message("test.remote.Unhandled", version=1)
@dataclass(frozen=True)
class Unhandled(Request[None]):
    pass


class NotNow(Refused):
    """The counter's refusal."""


class Counter(Actor):
    def __init__(self) -> None:
        self.total = 0
        self.release = asyncio.Event()

    @handler
    def add(self, msg: Add) -> None:
        self.total += msg.amount

    @handler
    def get(self, msg: Total) -> int:
        if self.total < 0:
            raise NotNow("negative")
        return self.total

    @handler
    def who(self, msg: WhoAsks) -> str:
        context = current_context()
        return "" if context is None else context.request_id

    @handler
    async def slow(self, msg: Slow) -> None:
        async with asyncio.timeout(WAIT):
            await self.release.wait()


class Worker(Actor):
    """Holds each message until both nodes' workers have one: proves both get work."""

    def __init__(self, where: str, seen: dict[str, int], both: asyncio.Event) -> None:
        self.where, self.seen, self.both = where, seen, both

    @handler
    async def where_am_i(self, msg: Where) -> str:
        self.seen[self.where] += 1
        if all(self.seen.values()):
            self.both.set()
        async with asyncio.timeout(WAIT):
            await self.both.wait()
        return self.where


class Flaky(Actor):
    """Crashes on its first message ever; every incarnation appends itself to ``log``."""

    def __init__(self, log: list[int]) -> None:
        self.log = log

    @handler
    def fragile(self, msg: Fragile) -> int:
        self.log.append(id(self))
        if len(self.log) == 1:
            raise RuntimeError(f"boom on {msg.label}")
        return len(self.log)


@pytest.fixture(params=["local", "amqp"])
async def nodes(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Nodes]:
    async with open_nodes(request.param, require_service) as made:
        yield made


async def test_a_remote_call_returns_the_typed_reply(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    counter = await a.spawn(Counter, name="counter")
    await counter.call(Add(41))
    remote = b.remote("a", "counter")
    assert isinstance(remote, RemoteRef)
    total: int = await remote.call(Total(), timeout=WAIT)
    assert total == 41
    assert remote == b.remote("a", "counter")
    assert remote.name == "counter"


async def test_a_remote_send_is_handled_before_a_later_call(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await a.spawn(Counter, name="counter")
    remote = b.remote("a", "counter")
    for amount in (1, 2, 3):
        remote.send(Add(amount))
    # The sends left first and were handled before the call (order per sender).
    assert await remote.call(Total(), timeout=WAIT) == 6
    assert list(a.dead_letters) == []
    assert list(b.dead_letters) == []


async def test_a_refusal_and_an_unhandled_message_answer_with_remote_errors(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    counter = await a.spawn(Counter, name="counter")
    remote = b.remote("a", "counter")
    remote.send(Add(-1))
    with pytest.raises(RemoteError) as caught:
        await remote.call(Total(), timeout=WAIT)
    assert (caught.value.error_type, caught.value.text) == ("NotNow", "negative")
    with pytest.raises(RemoteError) as unhandled:
        await remote.call(Unhandled(), timeout=WAIT)
    assert unhandled.value.error_type == "UnhandledMessage"
    assert counter.is_alive


async def test_the_request_context_travels_to_the_remote_handler(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await a.spawn(Counter, name="counter")
    with request_context(RequestContext("req-remote-7", {"sub": "alice"})):
        asked = await b.remote("a", "counter").call(WhoAsks(), timeout=WAIT)
    assert asked == "req-remote-7"
    assert await b.remote("a", "counter").call(WhoAsks(), timeout=WAIT) == ""


async def test_a_service_balances_across_the_nodes_that_expose_it(nodes: Nodes) -> None:
    a, b, client = await nodes.node("a"), await nodes.node("b"), await nodes.node("c")
    seen = {"a": 0, "b": 0}
    both = asyncio.Event()
    for node in (a, b):
        await node.spawn(Worker, node.name, seen, both, name="worker")
        assert node.gateway is not None
        await node.gateway.expose("where", "worker")
    service = client.service("where")
    answers = await asyncio.gather(*(service.call(Where(i), timeout=WAIT) for i in range(20)))
    assert set(answers) == {"a", "b"}
    assert seen["a"] + seen["b"] == 20


async def test_a_crash_redelivers_the_message_to_the_restarted_actor(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    log: list[int] = []
    await a.start(supervisor("root", [child(Flaky, log, name="flaky")], max_restarts=5))
    # The first incarnation crashes on the message; the transport requeues it
    # and the redelivery reaches the supervisor's restarted incarnation.
    assert await b.remote("a", "flaky").call(Fragile("x"), timeout=WAIT) == 2
    assert len(log) == 2
    assert log[0] != log[1]
    assert a.statistics().restarts_total == 1


async def test_an_unknown_actor_is_a_typed_error_and_a_lost_send_a_dead_letter(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await a.spawn(Counter, name="counter")
    with pytest.raises(RemoteError) as caught:
        await b.remote("a", "nobody").call(Total(), timeout=WAIT)
    assert caught.value.error_type == "UnknownActor"
    assert "'nobody'" in caught.value.text
    assert "'a'" in caught.value.text

    b.remote("a", "nobody").send(Add(1))  # recorded on the receiving node
    b.remote("ghost", "x").send(Add(2))  # unroutable: recorded on the sending node
    await b.remote("a", "counter").call(Total(), timeout=WAIT)  # both were handled by now
    (received,) = list(a.dead_letters)
    assert received.message == Add(1)
    assert "no actor is registered as 'nobody'" in received.reason
    (sent,) = list(b.dead_letters)
    assert sent.message == Add(2)
    assert sent.recipient == b.remote("ghost", "x")
    assert "Unroutable" in sent.reason


async def test_a_remote_call_times_out(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    counter = await a.spawn(Counter, name="counter")
    with pytest.raises(CallTimeout):
        await b.remote("a", "counter").call(Slow(), timeout=0.3)
    counter_actor: Counter = counter._proc.actor  # type: ignore[assignment]
    counter_actor.release.set()
    assert await b.remote("a", "counter").call(Total(), timeout=WAIT) == 0


async def test_what_a_remote_ref_cannot_do_is_a_typed_error(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    counter = await a.spawn(Counter, name="counter")
    remote = b.remote("a", "counter")
    service = b.service("counting")
    probe = await Probe.start(b)
    # What makes no sense for a service: it is served by whichever node takes the message.
    with pytest.raises(NotSupportedAcrossNodes, match="link to a service is not supported"):
        probe.link(service)
    with pytest.raises(NotSupportedAcrossNodes, match="monitor of a service is not supported"):
        probe.monitor(service)
    with pytest.raises(NotSupportedAcrossNodes, match=r"exit signal \(kill\) to a service"):
        b.kill(service)
    with pytest.raises(NotSupportedAcrossNodes, match=r"exit signal \(shutdown\) to a service"):
        b.exit(service, SHUTDOWN)
    with pytest.raises(NotSupportedAcrossNodes, match="wait_stopped of a service"):
        await service.wait_stopped(1)
    with pytest.raises(NotSupportedAcrossNodes, match="kill_and_wait of a service"):
        await b.kill_and_wait(service)
    # What needs the local process record.
    with pytest.raises(NotSupportedAcrossNodes, match=r"node\.stop"):
        await b.stop(remote)
    with pytest.raises(NotSupportedAcrossNodes):
        b.register("here", remote)
    with pytest.raises(NotSupportedAcrossNodes):
        remote.statistics()
    with pytest.raises(NotSupportedAcrossNodes):
        _ = remote.actor_class
    # Not known here, and not faked: a ref does not track its actor.
    assert remote.is_alive
    assert remote.exit_reason is None
    assert probe.received_nothing()
    assert counter.is_alive
    assert b.gateway is not None
    assert b.gateway.statistics().remote_monitors == 0


async def test_sends_queued_when_the_node_closes_are_published_first(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await a.spawn(Counter, name="counter")
    remote = b.remote("a", "counter")
    for _ in range(10):
        remote.send(Add(1))
    await b.aclose()  # flushes its outbox before it returns
    assert await a.remote("a", "counter").call(Total(), timeout=WAIT) == 10
    remote.send(Add(1))  # after close: a dead letter, not a silent drop
    assert "gateway is closed" in b.dead_letters[-1].reason
