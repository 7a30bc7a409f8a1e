"""The front as a supervised actor: it binds, answers Where(), restarts, and stops gracefully."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from enotime import ActorRef, Node, child, handler, supervisor, which_children
from enotime.edge import Address, FrontService, ServerStopped, Where
from enotime.errors import StartFailed
from enotime.messages import Request
from tests.integration.edge._doubles import endpoints
from tests.integration.edge.conftest import Edge, config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class BreakServer(Request[None]):
    pass


class BreakableFront(FrontService):
    """A front whose HTTP server task the test can cancel, as if it had died."""

    @handler
    def break_server(self, message: BreakServer) -> None:
        assert self._server is not None
        self._server.cancel()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


async def test_where_answers_the_bound_port_of_an_ephemeral_front(edge: Edge) -> None:
    address = await edge.front.call(Where())

    assert isinstance(address, Address)
    assert address.host == "127.0.0.1"
    assert address.port > 0
    assert address.url == edge.url


async def front_of(tree: ActorRef[Any]) -> ActorRef[Any]:
    """The running front under ``tree`` (answered after any restart the tree has pending)."""
    (info,) = await which_children(tree)
    assert info.ref is not None
    assert info.ref.is_alive
    return info.ref


async def test_a_killed_front_is_restarted_on_the_same_port(
    node: Node, http: httpx.AsyncClient
) -> None:
    port = free_port()
    tree = await node.start(
        supervisor("edge", [child(FrontService, endpoints(), config(port=port), name="front")])
    )
    first = await front_of(tree)
    assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200

    await node.kill_and_wait(first)

    second = await front_of(tree)
    assert second != first
    assert await second.call(Where()) == Address("127.0.0.1", port)
    assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


async def test_a_front_whose_server_dies_crashes_and_is_restarted(
    node: Node, http: httpx.AsyncClient
) -> None:
    port = free_port()
    tree = await node.start(
        supervisor("edge", [child(BreakableFront, endpoints(), config(port=port), name="front")])
    )
    first = await front_of(tree)

    await first.call(BreakServer())
    reason = await first.wait_stopped(timeout=10)

    assert isinstance(reason.exception, ServerStopped)
    second = await front_of(tree)
    assert second != first
    assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


async def test_stopping_the_front_lets_a_request_in_flight_finish(edge: Edge) -> None:
    in_flight = asyncio.ensure_future(edge.client.get("/park"))
    await asyncio.wait_for(edge.seen.parked.wait(), timeout=10)

    stopping = asyncio.ensure_future(edge.node.stop(edge.front, timeout=10))
    edge.parked.set()

    response = await in_flight
    await stopping
    assert response.status_code == 200
    assert not edge.front.is_alive


async def test_a_stopped_front_frees_its_port(node: Node, http: httpx.AsyncClient) -> None:
    port = free_port()
    front = await node.spawn(FrontService, endpoints(), config(port=port), name="front")
    await node.stop(front)

    with pytest.raises(httpx.ConnectError):
        await http.get(f"http://127.0.0.1:{port}/healthz")
    again = await node.spawn(FrontService, endpoints(), config(port=port, bind_retry=0))
    assert (await again.call(Where())).port == port


async def test_a_port_held_by_someone_else_fails_the_start(node: Node) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]

        with pytest.raises(StartFailed) as failure:
            await node.spawn(FrontService, endpoints(), config(port=port, bind_retry=0.05))

    assert isinstance(failure.value.__cause__, OSError)
