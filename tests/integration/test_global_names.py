"""Global names: registered on one node, resolved through the registry from any node.

Two ``Node`` objects in one process, each with its own transport and its own
``InMemoryRegistry`` peer on one shared state, parametrised over
``LocalTransport`` and ``AmqpTransport`` on the real RabbitMQ (skipped with
the reason on a laptop, failed in CI), as in ``test_remote_refs``. Waits for a
name's release are blocking queries on its key (``kv_watch``), never sleeps;
where a node dies, the registry measures its TTLs on a :class:`ManualClock`
that only the test moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import NoReturn

import pytest

from enotime import Actor, Node, RemoteRef, handler
from enotime import errors as kernel_errors
from enotime.errors import NameNotFound, NotSupportedAcrossNodes
from enotime.messages import Request
from enotime.registry import NAMES_PREFIX, InMemoryRegistry, NameTaken
from enotime.testing import ManualClock
from enotime.transport import message
from tests.contract.test_transport import WAIT, Cluster
from tests.integration._nodes import Nodes, open_nodes


@message("test.global.Bump", version=1)
@dataclass(frozen=True)
class Bump(Request[int]):
    amount: int


@dataclass(frozen=True)
class Quit:
    pass


class Counter(Actor):
    def __init__(self) -> None:
        self.total = 0

    @handler
    def bump(self, msg: Bump) -> int:
        self.total += msg.amount
        return self.total

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop()


def shared_registry(nodes: Nodes) -> InMemoryRegistry:
    """The registry state every node of the test joined (through its own peer)."""
    assert nodes.registry is not None
    return nodes.registry


@pytest.fixture(params=["local", "amqp"])
async def nodes(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Nodes]:
    async with open_nodes(request.param, require_service, registry=InMemoryRegistry()) as made:
        yield made


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["local", "amqp"])
async def timed(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn], clock: ManualClock
) -> AsyncIterator[Nodes]:
    """Nodes whose registry measures TTLs and lock-delays on ``clock``."""
    registry = InMemoryRegistry(clock=clock)
    async with open_nodes(request.param, require_service, registry=registry) as made:
        yield made


def elapse(nodes: Nodes, clock: ManualClock, seconds: float) -> None:
    """Move the registry's time by ``seconds`` and apply the TTLs due."""
    clock.advance(seconds)
    shared_registry(nodes).reap()


async def released(registry: InMemoryRegistry, name: str) -> None:
    """Return once no session holds global ``name`` (a blocking query, bounded by WAIT)."""
    index = 0
    async with asyncio.timeout(WAIT):
        while True:
            index, entry = await registry.kv_watch(NAMES_PREFIX + name, index=index, wait=WAIT)
            if entry is None or entry.session is None:
                return


def held(node: Node) -> list[str]:
    assert node.gateway is not None
    return node.gateway.globals()


async def node_names(registry: InMemoryRegistry) -> list[str]:
    return [info.name for info in await registry.nodes()]


async def test_a_name_registered_on_one_node_is_called_from_another(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    assert await node_names(shared_registry(nodes)) == ["a", "b"]
    counter = await a.spawn(Counter, name="counter")
    await a.register_global("ledger", counter)
    assert await shared_registry(nodes).resolve_name("ledger") == "a/counter"

    found = await b.whereis_global("ledger")
    assert isinstance(found, RemoteRef)
    assert found == b.remote("a", "counter")
    assert await found.call(Bump(5), timeout=WAIT) == 5
    assert await (await b.lookup_global("ledger")).call(Bump(2), timeout=WAIT) == 7
    assert await a.whereis_global("ledger") is counter  # the holder gets its local ref
    assert held(a) == ["ledger"]

    assert await b.whereis_global("nobody") is None
    with pytest.raises(NameNotFound):
        await b.lookup_global("nobody")


async def test_an_actor_without_a_local_name_gets_the_global_one(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    counter = await a.spawn(Counter)
    await a.register_global("anon", counter)
    assert a.whereis("anon") is counter
    assert await shared_registry(nodes).resolve_name("anon") == "a/anon"
    ref = await b.lookup_global("anon")
    assert await ref.call(Bump(1), timeout=WAIT) == 1


async def test_first_writer_wins_across_nodes(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await a.register_global("ledger", await a.spawn(Counter, name="counter"))
    mine = await b.spawn(Counter, name="mine")
    with pytest.raises(NameTaken) as taken:
        await b.register_global("ledger", mine)
    assert isinstance(taken.value, kernel_errors.NameTaken)  # one except for local and global
    unnamed = await b.spawn(Counter)
    with pytest.raises(NameTaken):
        await b.register_global("ledger", unnamed)
    assert unnamed.name is None  # the local name given for it is taken back
    assert taken.value.holder == "a/counter"
    assert await shared_registry(nodes).resolve_name("ledger") == "a/counter"
    assert held(b) == []


async def test_the_holder_may_move_its_name_to_another_local_actor(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    first = await a.spawn(Counter, name="first")
    second = await a.spawn(Counter, name="second")
    await a.register_global("ledger", first)
    await a.register_global("ledger", second)
    assert await shared_registry(nodes).resolve_name("ledger") == "a/second"
    await a.stop(first)  # the old holder's stop no longer releases the name
    assert await a.whereis_global("ledger") is second
    assert await b.whereis_global("ledger") == b.remote("a", "second")


async def test_a_stopped_actor_releases_its_name(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    counter = await a.spawn(Counter, name="counter")
    await a.register_global("ledger", counter)
    counter.send(Quit())
    await released(shared_registry(nodes), "ledger")
    assert await b.whereis_global("ledger") is None
    assert held(a) == []
    # A clean release sets no lock-delay: B takes the name at once.
    await b.register_global("ledger", await b.spawn(Counter, name="counter"))
    assert await a.whereis_global("ledger") == a.remote("b", "counter")


async def test_unregister_global_frees_the_name(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    counter = await a.spawn(Counter, name="counter")
    await a.register_global("ledger", counter)
    assert not await b.unregister_global("ledger")  # not B's to free
    assert await a.unregister_global("ledger")
    assert not await a.unregister_global("ledger")
    assert await shared_registry(nodes).resolve_name("ledger") is None
    assert counter.is_alive
    await b.register_global("ledger", await b.spawn(Counter, name="counter"))


async def test_a_closed_node_leaves_the_registry_and_its_names(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await a.register_global("ledger", await a.spawn(Counter, name="counter"))
    await a.register_global("audit", await a.spawn(Counter, name="audit"))
    await a.aclose()
    assert await shared_registry(nodes).names() == {}
    assert await node_names(shared_registry(nodes)) == ["b"]
    await b.register_global("ledger", await b.spawn(Counter, name="counter"))
    ref = await b.lookup_global("ledger")
    assert not isinstance(ref, RemoteRef)
    assert await ref.call(Bump(3), timeout=WAIT) == 3


async def test_a_node_that_dies_gives_its_names_up_after_its_session_ttl_and_lock_delay(
    timed: Nodes, clock: ManualClock
) -> None:
    registry = shared_registry(timed)
    short = {"registration_ttl": 5, "session_ttl": 10, "lock_delay": 3}
    a = await timed.node("a", connect=short)
    b = await timed.node("b")  # the defaults: its session outlives this test's 13 s
    await a.register_global("ledger", await a.spawn(Counter, name="counter"))
    mine = await b.spawn(Counter, name="counter")
    await timed.kill("a")  # no clean release: a's registration and session stop beating

    elapse(timed, clock, 4.5)
    assert await node_names(registry) == ["a", "b"]
    elapse(timed, clock, 0.5)  # a's registration_ttl: a is no longer a healthy node
    assert await node_names(registry) == ["b"]

    elapse(timed, clock, 4.5)  # 9.5 s: a's session still holds the name
    with pytest.raises(NameTaken) as taken:
        await b.register_global("ledger", mine)
    assert taken.value.holder == "a/counter"
    elapse(timed, clock, 0.5)  # a's session_ttl: its session ends, the name is free...
    assert await registry.resolve_name("ledger") is None
    assert await b.whereis_global("ledger") is None
    with pytest.raises(NameTaken) as delayed:
        await b.register_global("ledger", mine)
    assert delayed.value.holder is None  # ...but inside a's lock_delay

    elapse(timed, clock, 2.5)
    with pytest.raises(NameTaken):
        await b.register_global("ledger", mine)
    elapse(timed, clock, 0.5)  # session_ttl + lock_delay after a died: b may take the name
    await b.register_global("ledger", mine)
    assert await b.whereis_global("ledger") is mine
    assert await registry.resolve_name("ledger") == "b/counter"


async def test_registry_times_are_checked_on_connect(nodes: Nodes) -> None:
    for option, value, says in [
        ("registration_ttl", 0.5, "registration_ttl must be a number of seconds from 1 to 86400"),
        ("session_ttl", 5, "session_ttl must be a number of seconds from 10 to 86400, not 5"),
        ("lock_delay", 61, "lock_delay must be a number of seconds from 0 to 60"),
        ("lock_delay", float("nan"), "lock_delay must be"),
        ("session_ttl", "15", "session_ttl must be"),
    ]:
        with pytest.raises(ValueError, match=says):
            await nodes.node(f"bad-{option}", connect={option: value})
    assert await node_names(shared_registry(nodes)) == []  # refused before registering


async def test_misuse_is_refused(nodes: Nodes) -> None:
    a, _ = await nodes.node("a"), await nodes.node("b")
    with pytest.raises(NotSupportedAcrossNodes):
        await a.register_global("ledger", a.remote("b", "counter"))
    counter = await a.spawn(Counter, name="counter")
    await a.stop(counter)
    with pytest.raises(NameNotFound):
        await a.register_global("ledger", counter)
    assert await shared_registry(nodes).resolve_name("ledger") is None


async def test_global_names_need_a_registry() -> None:
    cluster = Cluster("local")
    try:
        async with Node("solo") as node:
            await node.connect(await cluster.node("solo"))
            counter = await node.spawn(Counter, name="counter")
            with pytest.raises(RuntimeError, match="registry"):
                await node.register_global("ledger", counter)
            with pytest.raises(RuntimeError, match="registry"):
                await node.whereis_global("ledger")
    finally:
        await cluster.aclose()
