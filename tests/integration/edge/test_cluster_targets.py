"""A front on one node, its workers on another: endpoints reach cluster services.

The front's node holds the front and the login stand-in; the worker runs on a
second node and exposes its service. An endpoint whose target no local actor
holds is called as that service, through the transport, with the request id
and the verified claims travelling in the (encrypted) envelope, and the
worker's authorisation deciding there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import pytest
from pydantic import BaseModel

from enotime import current_context, handler
from enotime.auth import JwtKeyring, RevocationList, Revocations, TokenSigner, Worker, requires
from enotime.edge import EdgeConfig, Endpoint, FrontService, RateLimit, Where
from enotime.messages import Request
from enotime.transport import message
from tests._login_stand_in import LoginStandIn
from tests.integration._nodes import Nodes, open_nodes

ISSUER, AUDIENCE = "https://login.test", "cluster-api"
GENEROUS = (RateLimit(count=10_000, period=60.0),)


@message("test.edge.Greet", version=1)
@dataclass(frozen=True)
class Greet(Request[dict[str, Any]]):
    account: str


@message("test.edge.Purge", version=1)
@dataclass(frozen=True)
class Purge(Request[None]):
    account: str


class Greeter(Worker):
    """Runs on the worker node: answers who asked, from which node."""

    role_permissions = {"owner": frozenset({"greet", "purge"}), "member": frozenset({"greet"})}

    @handler
    @requires("greet")
    def greet(self, msg: Greet) -> dict[str, Any]:
        context = current_context()
        assert context is not None
        return {
            "node": self.node.name,
            "subject": context.claims["sub"],
            "request_id": context.request_id,
        }

    @handler
    @requires("purge")
    def purge(self, msg: Purge) -> None:
        return None


class WatchedLogin(LoginStandIn):
    """The login stand-in, telling the test each time a front fetches the revocations."""

    def __init__(
        self, keyring: JwtKeyring, revocations: RevocationList, fetched: asyncio.Queue[None]
    ) -> None:
        super().__init__(keyring, revocations)
        self.fetched = fetched

    @handler
    def revocation_snapshot(self, message: Revocations) -> dict[str, Any]:
        self.fetched.put_nowait(None)
        return self.revocations.snapshot()


class Greeting(BaseModel):
    node: str
    subject: str
    request_id: str


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/accounts/<account>/greeting",
        target="greeter",
        message=Greet,
        output=Greeting,
    ),
    Endpoint(method="DELETE", path="/accounts/<account>", target="greeter", message=Purge),
]


@dataclass
class Cluster:
    http: httpx.AsyncClient
    signer: TokenSigner


@pytest.fixture(params=["local", "amqp"])
async def cluster(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Cluster]:
    nodes: Nodes
    async with open_nodes(request.param, require_service) as nodes:
        edge, workers = await nodes.node("edge"), await nodes.node("workers")
        await workers.spawn(Greeter, name="greeter-1")
        assert workers.gateway is not None
        await workers.gateway.expose("greeter", "greeter-1")

        keyring = JwtKeyring()
        await edge.spawn(LoginStandIn, keyring, RevocationList(), name="login")
        config = EdgeConfig(
            issuer=ISSUER, audience=AUDIENCE, address_limits=GENEROUS, subject_limits=GENEROUS
        )
        front = await edge.spawn(FrontService, ENDPOINTS, config, name="front")
        address = await front.call(Where())
        async with httpx.AsyncClient(base_url=address.url, timeout=10.0) as http:
            yield Cluster(http, TokenSigner(keyring, issuer=ISSUER, audience=AUDIENCE))


async def test_an_endpoint_reaches_a_worker_on_another_node_with_the_claims(
    cluster: Cluster,
) -> None:
    token = cluster.signer.issue("alice", account="acme", roles=["member"]).token
    answer = await cluster.http.get(
        "/accounts/acme/greeting",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-across-nodes"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "node": "workers",
        "subject": "alice",
        "request_id": "req-across-nodes",
    }


async def test_the_remote_worker_decides_and_its_refusal_is_a_403(cluster: Cluster) -> None:
    member = cluster.signer.issue("bob", account="acme", roles=["member"]).token
    refused = await cluster.http.delete(
        "/accounts/acme", headers={"Authorization": f"Bearer {member}"}
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"

    other_account = await cluster.http.get(
        "/accounts/globex/greeting", headers={"Authorization": f"Bearer {member}"}
    )
    assert other_account.status_code == 403

    owner = cluster.signer.issue("carol", account="acme", roles=["owner"]).token
    allowed = await cluster.http.delete(
        "/accounts/acme", headers={"Authorization": f"Bearer {owner}"}
    )
    assert allowed.status_code == 204


@pytest.mark.parametrize("backend", ["local", "amqp"])
async def test_a_front_without_a_local_login_gets_keys_and_revocations_from_the_cluster(
    backend: str, require_service: Callable[[str], NoReturn]
) -> None:
    async with open_nodes(backend, require_service) as nodes:
        auth, edge, workers = [await nodes.node(n) for n in ("auth", "edge", "workers")]
        keyring, revocations = JwtKeyring(), RevocationList()
        fetched: asyncio.Queue[None] = asyncio.Queue()
        await auth.spawn(WatchedLogin, keyring, revocations, fetched, name="login")
        await workers.spawn(Greeter, name="greeter-1")
        for node, service, actor in ((auth, "login", "login"), (workers, "greeter", "greeter-1")):
            assert node.gateway is not None
            await node.gateway.expose(service, actor)
        config = EdgeConfig(
            issuer=ISSUER,
            audience=AUDIENCE,
            address_limits=GENEROUS,
            subject_limits=GENEROUS,
            revocations_refresh=0.05,
        )
        front = await edge.spawn(FrontService, ENDPOINTS, config, name="front")
        address = await front.call(Where())
        issued = TokenSigner(keyring, issuer=ISSUER, audience=AUDIENCE).issue(
            "alice", account="acme", roles=["member"]
        )
        headers = {"Authorization": f"Bearer {issued.token}"}
        async with httpx.AsyncClient(base_url=address.url, timeout=10.0) as http:
            accepted = await http.get("/accounts/acme/greeting", headers=headers)
            assert accepted.status_code == 200, accepted.text  # keys fetched from the service

            revocations.revoke(issued.jti, issued.expires_at)  # on the login node only
            while not fetched.empty():
                fetched.get_nowait()
            for _ in range(2):  # the second fetch starts once the first was merged
                await asyncio.wait_for(fetched.get(), 5)
            refused = await http.get("/accounts/acme/greeting", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["token_problem"] == "revoked"
