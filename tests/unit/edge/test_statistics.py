"""What a front counts: requests by route template, method and status, latency, refusals, limits.

Over real HTTP, against a front on loopback; the counts are read from the
node's statistics and through the metrics collector, as a scrape would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from enotime import Actor, Node, handler
from enotime.auth import (
    JwtKeyring,
    RevocationList,
    TokenSigner,
    TokenVerifier,
)
from enotime.edge import EdgeConfig, Endpoint, FrontService, RateLimit, Where
from enotime.edge._app import create_app
from enotime.edge._bearer import BearerAuthentication
from enotime.edge._jwks import JwksCache
from enotime.edge._statistics import (
    AUTH_PROBLEMS,
    UNMATCHED,
    ApiStatistics,
    api_counts,
    api_statistics,
    route_label,
)
from enotime.messages import Request
from enotime.metrics import API_METRICS, instrument, uninstrument
from tests._login_stand_in import LoginStandIn

ISSUER, AUDIENCE = "https://login.test", "api"
GENEROUS = (RateLimit(10_000, 60.0),)
WAIT = 10.0


@dataclass(frozen=True)
class GetThing(Request[dict[str, Any]]):
    thing: int


@dataclass(frozen=True)
class Hold(Request[dict[str, Any]]):
    pass


class Thing(BaseModel):
    thing: int


class Things(Actor):
    """The endpoints' target; ``Hold`` waits until the test releases it."""

    def __init__(self, held: asyncio.Event, release: asyncio.Event) -> None:
        self.held = held
        self.release = release

    @handler
    def get(self, message: GetThing) -> dict[str, Any]:
        return {"thing": message.thing}

    @handler
    async def hold(self, message: Hold) -> dict[str, Any]:
        self.held.set()
        await self.release.wait()
        return {"thing": 0}


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/things/<int:thing>",
        target="things",
        message=GetThing,
        output=Thing,
    ),
    Endpoint(
        method="GET",
        path="/public/<int:thing>",
        target="things",
        message=GetThing,
        output=Thing,
        public=True,
        rate_limits=(RateLimit(1, 60.0),),
    ),
    Endpoint(method="POST", path="/hold", target="things", message=Hold, output=Thing, public=True),
]


@dataclass
class Front:
    node: Node
    client: httpx.AsyncClient
    signer: TokenSigner
    held: asyncio.Event
    release: asyncio.Event

    def bearer(self) -> dict[str, str]:
        token = self.signer.issue("alice", account="acme", roles=("owner",)).token
        return {"Authorization": f"Bearer {token}"}

    def stats(self) -> ApiStatistics:
        found = api_statistics(self.node)
        assert found is not None
        return found


@pytest.fixture
async def front(node: Node) -> AsyncIterator[Front]:
    keyring = JwtKeyring()
    held, release = asyncio.Event(), asyncio.Event()
    await node.spawn(LoginStandIn, keyring, RevocationList(), name="login")
    await node.spawn(Things, held, release, name="things")
    config = EdgeConfig(
        issuer=ISSUER, audience=AUDIENCE, address_limits=GENEROUS, subject_limits=GENEROUS
    )
    assert api_statistics(node) is None  # nothing until a front starts
    ref = await node.spawn(FrontService, ENDPOINTS, config, name="front")
    address = await ref.call(Where())
    async with httpx.AsyncClient(base_url=address.url, timeout=WAIT) as client:
        yield Front(
            node, client, TokenSigner(keyring, issuer=ISSUER, audience=AUDIENCE), held, release
        )
    release.set()


def test_a_route_label_is_its_path_template_without_converters() -> None:
    assert (
        route_label("/accounts/<string(maxlength=64):account>/notes") == "/accounts/<account>/notes"
    )
    assert route_label("/things/<int:thing>") == "/things/<thing>"
    assert route_label("/healthz") == "/healthz"


async def test_requests_are_counted_by_route_template_method_and_status(front: Front) -> None:
    client = front.client
    assert (await client.get("/things/1", headers=front.bearer())).status_code == 200
    assert (await client.get("/things/2", headers=front.bearer())).status_code == 200
    assert (await client.get("/public/3")).status_code == 200
    assert (await client.get("/public/4")).status_code == 429  # its own limit: 1 a minute
    assert (await client.get("/no/such/path")).status_code == 404
    assert (await client.get("/another/unknown/path")).status_code == 404
    assert (await client.delete("/things/1", headers=front.bearer())).status_code == 405
    assert (await client.request("BREW", "/pot")).status_code == 404
    assert (await client.get("/healthz")).status_code == 200
    stats = front.stats()
    assert dict(stats.requests) == {
        ("/things/<thing>", "GET", 200): 2,
        ("/public/<thing>", "GET", 200): 1,
        ("/public/<thing>", "GET", 429): 1,
        (UNMATCHED, "GET", 404): 2,  # concrete paths never become labels
        (UNMATCHED, "DELETE", 405): 1,
        (UNMATCHED, "other", 404): 1,  # so do methods nobody declared
        ("/healthz", "GET", 200): 1,
    }
    assert dict(stats.rate_limited) == {"/public/<thing>": 1}
    assert stats.in_flight == 0
    timings = {(t.route, t.method): t for t in stats.durations}
    things = timings["/things/<thing>", "GET"]
    assert things.count == 2
    assert things.buckets[-1] == (float("inf"), 2)
    assert 0 < things.sum_seconds < WAIT


async def test_refused_tokens_are_counted_by_problem(front: Front) -> None:
    client = front.client
    assert (await client.get("/things/1")).status_code == 401
    basic = {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="}
    assert (await client.get("/things/1", headers=basic)).status_code == 401
    garbage = {"Authorization": "Bearer not-a-jwt"}
    assert (await client.get("/things/1", headers=garbage)).status_code == 401
    assert (await client.get("/public/1", headers=garbage)).status_code == 200  # not checked
    failures = front.stats().auth_failures
    assert set(failures) == set(AUTH_PROBLEMS)
    assert {problem: n for problem, n in failures.items() if n} == {"missing": 2, "malformed": 1}
    assert front.stats().requests["/things/<thing>", "GET", 401] == 3


async def test_in_flight_counts_requests_being_answered(front: Front) -> None:
    held = asyncio.create_task(front.client.post("/hold"))
    async with asyncio.timeout(WAIT):
        await front.held.wait()
    assert front.stats().in_flight == 1
    front.release.set()
    assert (await held).status_code == 200
    assert front.stats().in_flight == 0
    assert front.stats().requests["/hold", "POST", 200] == 1


async def test_a_request_whose_client_went_away_leaves_the_in_flight_count(node: Node) -> None:
    """The request is cancelled mid-call (the ASGI disconnect): counted out, not answered."""
    held, release = asyncio.Event(), asyncio.Event()
    await node.spawn(Things, held, release, name="things")
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE)
    keys = JwksCache(verifier, node=node, source="login", floor=1.0, clock=node.clock.monotonic)
    app = create_app(
        ENDPOINTS,
        EdgeConfig(issuer=ISSUER, audience=AUDIENCE),
        node=node,
        authentication=BearerAuthentication(verifier, keys),
        jwks=keys,
    )
    counts = api_counts(node)
    async with app.test_client().request("/hold", method="POST") as connection:
        await connection.send_complete()
        async with asyncio.timeout(WAIT):
            await held.wait()
        assert counts.in_flight == 1
        await connection.disconnect()
    assert counts.in_flight == 0  # the app's task ended with the cancelled request
    assert not counts.requests
    release.set()


async def test_the_collector_exposes_the_front_with_bounded_labels(front: Front) -> None:
    registry = CollectorRegistry()
    instrument(front.node, registry)
    try:
        await front.client.get("/things/1", headers=front.bearer())
        await front.client.get("/things/1")
        text = generate_latest(registry).decode()
    finally:
        uninstrument(front.node, registry)
    families = {
        (f"{f.name}_total" if f.type == "counter" else f.name): f
        for f in text_string_to_metric_families(text)
    }
    api = {name: f.type for name, f in families.items() if name.startswith("enotime_api_")}
    assert api == API_METRICS
    labels = {
        name: {label for s in families[name].samples for label in s.labels} - {"le"} for name in api
    }
    assert labels == {
        "enotime_api_requests_total": {"route", "method", "status"},
        "enotime_api_request_duration_seconds": {"route", "method"},
        "enotime_api_auth_failures_total": {"problem"},
        "enotime_api_rate_limited_total": set(),  # no series until a request is limited
        "enotime_api_requests_in_flight": set(),
    }
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    ok = (("method", "GET"), ("route", "/things/<thing>"), ("status", "200"))
    assert samples["enotime_api_requests_total", ok] == 1
    assert samples["enotime_api_auth_failures_total", (("problem", "missing"),)] == 1
    assert samples["enotime_api_auth_failures_total", (("problem", "expired"),)] == 0
    count = (("method", "GET"), ("route", "/things/<thing>"))
    assert samples["enotime_api_request_duration_seconds_count", count] == 2
