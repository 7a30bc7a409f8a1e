"""The login flows over real HTTP: ``enotime.login.endpoints()`` served by a front on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from enotime import ActorRef
from enotime.edge import EdgeConfig, FrontService, RateLimit, Where
from enotime.login import endpoints
from tests.unit.login.conftest import PASSWORD, LoginSystem, SystemFactory, start_system

__all__ = ["start_system"]  # the fixture, re-used from the unit tests

GENEROUS = (RateLimit(count=10_000, period=60.0),)


@dataclass
class Http:
    system: LoginSystem
    client: httpx.AsyncClient
    front: ActorRef[FrontService]

    async def get(self, path: str, token: str) -> httpx.Response:
        return await self.client.get(path, headers={"Authorization": f"Bearer {token}"})

    async def post(self, path: str, json: Any, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(path, json=json, headers=headers)


@pytest.fixture
async def http(start_system: SystemFactory) -> AsyncIterator[Http]:
    system = await start_system(fronts=("front", "http"))
    config = EdgeConfig(
        issuer=system.config.issuer,
        audience=system.config.audience,
        address_limits=GENEROUS,
        subject_limits=GENEROUS,
    )
    front = await system.node.spawn(
        FrontService, endpoints(), config, wall_clock=system.time, name="http"
    )
    address = await front.call(Where())
    async with httpx.AsyncClient(base_url=address.url, timeout=10) as client:
        yield Http(system, client, front)


async def test_the_demo_session_register_verify_log_in_refresh_log_out(http: Http) -> None:
    credentials = {"email": "alice@example.com", "password": PASSWORD}
    registered = await http.post("/auth/register", credentials)
    assert registered.status_code == 202, registered.text
    token = await http.system.last_token_to("alice@example.com", "/verify-email")
    verified = await http.post("/auth/verify-email", {"token": token})
    assert verified.status_code == 200, verified.text

    login = await http.post("/auth/login", credentials)
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["mfa_required"] is False
    assert tokens["token_type"] == "Bearer"

    me = await http.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "alice@example.com"

    http.system.time.advance(1)
    refreshed = await http.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    fresh = refreshed.json()

    out = await http.post(
        "/auth/logout", {"refresh_token": fresh["refresh_token"]}, fresh["access_token"]
    )
    assert out.status_code == 204, out.text
    await http.system.front.expect(object)  # the probe got its copy; the front its own
    again = await http.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}
    )
    assert again.status_code == 401
    assert again.headers["content-type"].startswith("application/problem+json")
    dead = await http.post("/auth/refresh", {"refresh_token": fresh["refresh_token"]})
    assert dead.status_code == 401


async def test_unknown_address_and_wrong_password_get_the_same_problem(http: Http) -> None:
    await http.system.register("alice@example.com")
    unknown = await http.post("/auth/login", {"email": "nobody@example.com", "password": PASSWORD})
    wrong = await http.post(
        "/auth/login", {"email": "alice@example.com", "password": "not the password at all"}
    )
    assert unknown.status_code == wrong.status_code == 401
    keep = ("type", "title", "status", "detail")
    assert {k: unknown.json().get(k) for k in keep} == {k: wrong.json().get(k) for k in keep}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not an address", "password": PASSWORD},
        {"email": "alice@example.com", "password": "short"},
        {"email": "alice@example.com", "password": "x" * 1025},
        {"email": "alice@example.com", "password": PASSWORD, "role": "admin"},
        {"email": "alice@example.com"},
    ],
)
async def test_bad_registrations_are_400_before_the_login_actor(http: Http, body: Any) -> None:
    answer = await http.post("/auth/register", body)
    assert answer.status_code == 400, answer.text
    assert http.system.hasher.hashes == 0


async def test_mfa_over_http(http: Http) -> None:
    system = http.system
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    enrol = await http.post("/auth/mfa/enrol", None, tokens.access_token)
    assert enrol.status_code == 200, enrol.text
    secret = enrol.json()["secret"]
    confirm = await http.post(
        "/auth/mfa/confirm", {"code": system.totp_code(secret)}, tokens.access_token
    )
    assert confirm.status_code == 200, confirm.text
    assert len(confirm.json()["codes"]) == 10
    system.time.advance(30)

    login = await http.post("/auth/login", {"email": "alice@example.com", "password": PASSWORD})
    assert login.json()["mfa_required"] is True
    assert login.json()["access_token"] is None
    second = await http.post(
        "/auth/login/mfa",
        {"challenge": login.json()["challenge"], "code": system.totp_code(secret)},
    )
    assert second.status_code == 200, second.text
    assert second.json()["access_token"]


async def test_switching_to_a_foreign_account_is_403(http: Http) -> None:
    system = http.system
    await system.register("alice@example.com")
    await system.register("mallory@example.com")
    alice = await system.log_in("alice@example.com")
    mallory = await system.log_in("mallory@example.com")
    answer = await http.post(
        "/auth/switch-account", {"account": alice.account}, mallory.access_token
    )
    assert answer.status_code == 403, answer.text


async def test_the_openapi_document_lists_every_login_route(http: Http) -> None:
    document = (await http.client.get("/openapi.json")).json()
    assert {path for path in document["paths"] if path.startswith("/auth/")} == {
        e.path for e in endpoints()
    }
