"""Connected nodes for the tests of actors across nodes, each on its own transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, NoReturn

from enotime import Gateway, Node
from enotime._gateway import (
    AGENT,
    _Agent,
    _LinkV1,
    _Ping,
    _RemoteDown,
    _Unwatch,
    _WatchV1,
    _WireReason,
)
from enotime.registry import InMemoryRegistry
from enotime.transport import MessageRegistry
from enotime.transport._port import AbstractTransport
from tests.contract.test_transport import WAIT, Cluster, _amqp_answers

HEARTBEAT: dict[str, Any] = {
    "heartbeat_interval": 0.1,
    "heartbeat_misses": 3,
    "heartbeat_timeout": 0.1,
}
"""Connect options of nodes that notice a silent peer within a third of a second."""
PATIENT: dict[str, Any] = {
    "heartbeat_interval": 0.1,
    "heartbeat_misses": 100,
    "heartbeat_timeout": 0.1,
}
"""Connect options of nodes that count a peer as gone after 10 s of silence only."""


class Nodes:
    """Nodes of one test, each connected to its own transport of the test's cluster.

    With a ``registry``, each node joins it through its own peer of that shared
    state (:attr:`peers`); ``connect_options`` go to every ``node.connect``.
    """

    def __init__(
        self, cluster: Cluster, *, registry: InMemoryRegistry | None = None, **connect_options: Any
    ) -> None:
        self.cluster = cluster
        self.registry = registry
        self.registries: list[InMemoryRegistry] = [registry] if registry is not None else []
        self.connect_options = connect_options
        self.transports: dict[str, AbstractTransport] = {}
        self.peers: dict[str, InMemoryRegistry] = {}
        self.nodes: list[Node] = []

    async def node(
        self, name: str, *, connect: Mapping[str, Any] | None = None, **transport_options: Any
    ) -> Node:
        """A new node ``name`` on a new transport (``transport_options`` go to that).

        ``connect`` adds to (or overrides) the test's connect options for this node.
        """
        transport = await self.cluster.node(name, **transport_options)
        self.transports[name] = transport
        options = {**self.connect_options, **(connect or {})}
        if self.registry is not None:
            peer = self.registry.peer()
            self.registries.append(peer)
            self.peers[name] = peer
            options["registry"] = peer
        node = Node(name)
        await node.__aenter__()
        self.nodes.append(node)
        await node.connect(transport, **options)
        return node

    async def restart(self, name: str) -> Node:
        """Node ``name`` vanishes without a word and a new node ``name`` starts at once.

        As a process supervisor restarting it after ``kill -9`` would: the old
        node's transport closes under it (its node lives on, unreachable,
        until :meth:`aclose`), then a new node of that name connects to a new
        transport, serving the same queue.
        """
        await self.transports[name].aclose()
        return await self.node(name)

    async def kill(self, name: str) -> None:
        """Node ``name`` dies as under ``kill -9``: nothing it holds is given back.

        Its transport closes under it, and its registry peer stops beating:
        no registration deregistered, no session destroyed, so they lapse with
        their TTLs on the registry's clock. The node object lives on,
        unreachable, until :meth:`aclose`.
        """
        await self.transports[name].aclose()
        peer = self.peers.get(name)
        if peer is not None:
            for kept in [*peer._registrations, *peer._sessions]:
                await kept._stop()  # the keep-alive task, as the process's death would

    async def aclose(self) -> None:
        for node in reversed(self.nodes):
            await node.aclose()
        for registry in reversed(self.registries):
            await registry.aclose()
        await self.cluster.aclose()


@contextlib.asynccontextmanager
async def open_nodes(
    backend: str,
    require_service: Callable[[str], NoReturn],
    *,
    registry: InMemoryRegistry | None = None,
    **connect_options: Any,
) -> AsyncIterator[Nodes]:
    """``Nodes`` on the ``local`` or ``amqp`` transport (skip-or-fail without a broker)."""
    if backend == "amqp" and (reason := _amqp_answers()) is not None:
        require_service(reason)
    made = Nodes(Cluster(backend), registry=registry, **connect_options)
    try:
        yield made
    finally:
        await made.aclose()


def gateway_v1_registry() -> MessageRegistry:
    """The messages of a node that knows version 1 of the gateway's protocol only.

    A transport made with it (``registry=``) cannot decode a v2 ``Ping``,
    ``Watch`` or ``Link``: it answers them ``enotime.UnknownMessageType``, as
    a node of an older release would.
    """
    registry = MessageRegistry()
    for cls, tag in [
        (_WireReason, "enotime.gateway.ExitReason"),
        (_Ping, "enotime.gateway.Ping"),
        (_WatchV1, "enotime.gateway.Watch"),
        (_LinkV1, "enotime.gateway.Link"),
        (_Unwatch, "enotime.gateway.Unwatch"),
        (_RemoteDown, "enotime.gateway.RemoteDown"),
    ]:
        registry.register(cls, tag, 1)
    return registry


def gateway(node: Node) -> Gateway:
    """The gateway of a connected node."""
    assert node.gateway is not None
    return node.gateway


async def settled(node: Node) -> None:
    """Wait until what ``node`` asked of other nodes (links, monitors) is in place there."""
    async with asyncio.timeout(WAIT):
        await gateway(node).settled()


async def handled(by: Node, sent_from: Node) -> None:
    """Return once ``by`` has handled what ``sent_from`` sent it so far (its agent answers)."""
    assert await sent_from.remote(gateway(by).node_id, AGENT).call(_Ping(), timeout=WAIT) is True


def agent_watches(node: Node) -> int:
    """How many monitors other nodes hold on ``node``'s actors, as its agent counts them."""
    ref = gateway(node)._agent
    assert ref is not None
    agent: _Agent = ref._proc.actor  # type: ignore[assignment]
    return len(agent._watches)
