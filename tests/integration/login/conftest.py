"""A login system behind a front on 127.0.0.1, spoken to over real HTTP (httpx -> Hypercorn).

The login system is the unit tests' (``tests/unit/login/conftest.py``): crypto,
an encrypted SQLite store, an outbox mailer and the login actor on a
hand-moved wall clock. The front serves ``enotime.login.endpoints()`` with
the front-wide limits lifted and the routes' own limits as declared, unless
the test says otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from enotime import ActorRef
from enotime.edge import EdgeConfig, Endpoint, FrontService, RateLimit, Where
from enotime.login import endpoints
from tests.unit.login.conftest import LoginSystem, SystemFactory, start_system

__all__ = ["GENEROUS", "Http", "HttpFactory", "start_system"]  # start_system: the fixture

GENEROUS = RateLimit(count=10_000, period=60.0)


@dataclass
class Http:
    """The login system, and an HTTP client on its front."""

    system: LoginSystem
    client: httpx.AsyncClient
    front: ActorRef[FrontService]

    async def get(self, path: str, token: str) -> httpx.Response:
        return await self.client.get(path, headers={"Authorization": f"Bearer {token}"})

    async def post(self, path: str, json: Any = None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(path, json=json, headers=headers)


HttpFactory = Callable[..., Awaitable[Http]]


@pytest.fixture
async def start_http(start_system: SystemFactory) -> AsyncIterator[HttpFactory]:
    """A system and its front: ``await start_http(routes=, edge=, hasher=, **LoginConfig)``.

    ``edge`` overrides the front's ``EdgeConfig`` fields.
    """
    clients: list[httpx.AsyncClient] = []

    async def start(
        *,
        routes: Sequence[Endpoint] | None = None,
        edge: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Http:
        system = await start_system(fronts=("front", "http"), **overrides)
        settings: dict[str, Any] = {
            "issuer": system.config.issuer,
            "audience": system.config.audience,
            "address_limits": (GENEROUS,),
            "subject_limits": (GENEROUS,),
            **(edge or {}),
        }
        config = EdgeConfig(**settings)
        front = await system.node.spawn(
            FrontService,
            endpoints() if routes is None else routes,
            config,
            wall_clock=system.time,
            name="http",
        )
        address = await front.call(Where())
        client = httpx.AsyncClient(base_url=address.url, timeout=10)
        clients.append(client)
        return Http(system, client, front)

    yield start
    for client in clients:
        await client.aclose()


@pytest.fixture
async def http(start_http: HttpFactory) -> Http:
    """The login system with its default configuration, and its front."""
    return await start_http()
