"""A node with a front, a notes worker and a login stand-in, spoken to over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from enotime import ActorRef, Node
from enotime.auth import JwtKeyring, RevocationList, TokenSigner
from enotime.edge import EdgeConfig, Endpoint, FrontService, RateLimit, Where
from enotime.testing import ManualClock
from tests._leaks import leak_checked_node
from tests.integration.edge._doubles import CountingLogin, NotesWorker, Seen, endpoints

ISSUER = "https://login.test"
AUDIENCE = "notes-api"

GENEROUS = (RateLimit(count=10_000, period=60.0),)


def config(**overrides: Any) -> EdgeConfig:
    """The front's configuration in these tests: loopback, a free port, generous limits."""
    settings: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "address_limits": GENEROUS,
        "subject_limits": GENEROUS,
        "max_body_bytes": 4096,
    }
    settings.update(overrides)
    return EdgeConfig(**settings)


@dataclass
class Edge:
    """A running front and what stands behind it."""

    node: Node
    front: ActorRef[Any]
    login: ActorRef[Any] | None
    client: httpx.AsyncClient
    keyring: JwtKeyring
    revocations: RevocationList
    signer: TokenSigner
    seen: Seen
    parked: asyncio.Event
    url: str = field(default="")

    def token(
        self, sub: str = "alice", *, account: str = "acme", roles: Sequence[str] = ("owner",)
    ) -> str:
        """A valid access token, signed by the login stand-in's current key."""
        return self.signer.issue(sub, account=account, roles=roles).token

    def bearer(self, token: str | None = None) -> dict[str, str]:
        """The Authorization header for ``token`` (a fresh one for alice by default)."""
        return {"Authorization": f"Bearer {token or self.token()}"}


StartEdge = Callable[..., Awaitable[Edge]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def node(clock: ManualClock) -> AsyncIterator[Node]:
    """A node on a hand-moved clock; after the test every actor and task must be gone."""
    async with leak_checked_node("edge-test", clock, shutdown_timeout=10.0) as node:
        yield node


@pytest.fixture
async def start_edge(node: Node) -> AsyncIterator[StartEdge]:
    """Start login stand-in, worker and front (with ``config(**overrides)``); HTTP client ready."""
    clients: list[httpx.AsyncClient] = []

    async def start(
        *,
        routes: Sequence[Endpoint] | None = None,
        with_login: bool = True,
        revocations: RevocationList | None = None,
        **overrides: Any,
    ) -> Edge:
        keyring = JwtKeyring()
        revoked = revocations or RevocationList()
        login = (
            await node.spawn(CountingLogin, keyring, revoked, name="login") if with_login else None
        )
        seen, parked = Seen(), asyncio.Event()
        await node.spawn(NotesWorker, seen, parked, name="notes")
        front = await node.spawn(
            FrontService,
            endpoints() if routes is None else routes,
            config(**overrides),
            name="front",
        )
        address = await front.call(Where())
        client = httpx.AsyncClient(base_url=address.url, timeout=10.0)
        clients.append(client)
        signer = TokenSigner(keyring, issuer=ISSUER, audience=AUDIENCE)
        return Edge(
            node, front, login, client, keyring, revoked, signer, seen, parked, url=address.url
        )

    yield start
    for client in clients:
        await client.aclose()


@pytest.fixture
async def edge(start_edge: StartEdge) -> Edge:
    """The usual set-up: a front with generous limits, its login stand-in and worker."""
    return await start_edge()
