"""Connected nodes for the tests of actors across nodes, each on its own transport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

from enotime import Node
from enotime.registry import InMemoryRegistry
from enotime.transport._port import AbstractTransport
from tests.contract.test_transport import Cluster, _amqp_answers


class Nodes:
    """Nodes of one test, each connected to its own transport of the test's cluster.

    With a ``registry``, each node joins it through its own peer of that shared
    state; ``connect_options`` go to every ``node.connect``.
    """

    def __init__(
        self, cluster: Cluster, *, registry: InMemoryRegistry | None = None, **connect_options: Any
    ) -> None:
        self.cluster = cluster
        self.registry = registry
        self.registries: list[InMemoryRegistry] = [registry] if registry is not None else []
        self.connect_options = connect_options
        self.transports: dict[str, AbstractTransport] = {}
        self.nodes: list[Node] = []

    async def node(self, name: str) -> Node:
        transport = await self.cluster.node(name)
        self.transports[name] = transport
        options = dict(self.connect_options)
        if self.registry is not None:
            peer = self.registry.peer()
            self.registries.append(peer)
            options["registry"] = peer
        node = Node(name)
        await node.__aenter__()
        self.nodes.append(node)
        await node.connect(transport, **options)
        return node

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
