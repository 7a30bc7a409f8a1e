"""A supervised actor that holds a global name takes it back in ``on_start`` when restarted.

The pattern documented in docs/kernel.md (Names): ``on_start`` calls
``self.node.register_global(...)``, so each incarnation registers the name
again, as with Erlang's ``global``. Two nodes, each with its own transport and
registry peer, over ``LocalTransport`` and ``AmqpTransport`` on the real
RabbitMQ (skipped with the reason on a laptop, failed in CI). Waits are on a
queue the child fills as it starts, with a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from enotime import Actor, RemoteRef, child, handler, supervisor
from enotime.messages import Request
from enotime.registry import InMemoryRegistry
from enotime.transport import message
from tests.contract.test_transport import WAIT
from tests.integration._nodes import Nodes, open_nodes


@message("test.global_restart.Bump", version=1)
@dataclass(frozen=True)
class Bump(Request[int]):
    amount: int


@dataclass(frozen=True)
class Crash:
    pass


class Ledger(Actor):
    """Holds the global name ``ledger`` in every incarnation."""

    def __init__(self, started: asyncio.Queue[Any]) -> None:
        self.started = started
        self.total = 0

    async def on_start(self) -> None:
        await self.node.register_global("ledger", self.ref)
        self.started.put_nowait(self.ref)

    @handler
    def bump(self, msg: Bump) -> int:
        self.total += msg.amount
        return self.total

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("ledger down")


@pytest.fixture(params=["local", "amqp"])
async def nodes(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Nodes]:
    async with open_nodes(request.param, require_service, registry=InMemoryRegistry()) as made:
        yield made


@pytest.mark.parametrize("local_name", ["ledger", None])
async def test_a_restarted_child_registers_its_global_name_again(
    nodes: Nodes, local_name: str | None
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    started: asyncio.Queue[Any] = asyncio.Queue()
    await a.start(supervisor("books", [child(Ledger, started, id="ledger", name=local_name)]))
    first = await asyncio.wait_for(started.get(), WAIT)
    remote = await b.lookup_global("ledger")
    assert isinstance(remote, RemoteRef)
    assert await remote.call(Bump(5), timeout=WAIT) == 5

    first.send(Crash())
    second = await asyncio.wait_for(started.get(), WAIT)
    assert second != first
    assert await a.whereis_global("ledger") is second
    again = await b.lookup_global("ledger")
    assert again == remote  # the same "<node>/<actor>": a ref held elsewhere keeps working
    assert await again.call(Bump(1), timeout=WAIT) == 1  # the new incarnation's state
    assert a.gateway is not None
    assert a.gateway.globals() == ["ledger"]
