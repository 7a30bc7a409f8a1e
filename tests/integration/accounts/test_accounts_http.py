"""The accounts routes over real HTTP: a front on 127.0.0.1 in front of the accounts actor.

The login actor is stood in for by a small actor that publishes the JWKS and
the revocations; tokens are signed as the login actor signs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from enotime import Node
from enotime.auth import (
    JwtKeyring,
    RevocationList,
    TokenSigner,
)
from enotime.crypto import CryptoClient, CryptoService, EmbeddedCryptoEngine
from enotime.edge import EdgeConfig, FrontService, Where
from enotime.login._accounts import AccountsConfig, AccountsService
from enotime.login._accounts_endpoints import endpoints
from enotime.login._memberships import DOCUMENT_TYPES, create_account, roles_of
from enotime.mail import SendMail
from enotime.store import SQLiteStore, StoreClient, StoreService
from enotime.testing import Probe
from tests._login_stand_in import LoginStandIn


@dataclass
class Api:
    http: httpx.AsyncClient
    store: StoreClient
    mailer: Probe
    signer: TokenSigner

    async def bearer(self, user: str, account: str) -> dict[str, str]:
        roles = await roles_of(self.store, user, account)
        token = self.signer.issue(user, account=account, roles=roles).token
        return {"Authorization": f"Bearer {token}"}


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def start_api(tmp_path: Path) -> AsyncIterator[ApiFactory]:
    """``await start_api(**AccountsConfig overrides)``: the accounts actor behind a front."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Api:
            engine = EmbeddedCryptoEngine(tmp_path / "keyring")
            [share] = await engine.initialize(shares=1, threshold=1)
            await engine.submit_unseal_share(share)
            adapter = await SQLiteStore.open(tmp_path / "store.sqlite3")
            stack.push_async_callback(adapter.aclose)
            keyring = JwtKeyring()
            node = await stack.enter_async_context(Node("accounts-http", shutdown_timeout=5.0))
            crypto = CryptoClient(await node.spawn(CryptoService, engine, name="crypto"))
            store = await node.spawn(StoreService, adapter, crypto, DOCUMENT_TYPES, name="store")
            mailer = await Probe.start(node, name="mailer")
            await node.spawn(AccountsService, AccountsConfig(**overrides), name="accounts")
            await node.spawn(LoginStandIn, keyring, RevocationList(), name="login")
            front = await node.spawn(
                FrontService, endpoints(), EdgeConfig(issuer="it", audience="it"), name="front"
            )
            address = await front.call(Where())
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=address.url, timeout=10.0)
            )
            signer = TokenSigner(keyring, issuer="it", audience="it")
            return Api(http, StoreClient(store), mailer, signer)

        yield start


@pytest.fixture
async def api(start_api: ApiFactory) -> Api:
    return await start_api()


async def _account(api: Api, owner: str, name: str = "Acme") -> str:
    """A new account of ``owner``'s, created over HTTP."""
    created = await api.http.post(
        "/accounts", json={"name": name}, headers=await api.bearer(owner, "acct-none")
    )
    assert created.status_code == 201, created.text
    account: str = created.json()["account"]
    return account


async def _join(api: Api, account: str, inviter: str, user: str, role: str) -> None:
    """``inviter`` invites someone as ``role``; ``user`` accepts with the mailed code."""
    invited = await api.http.post(
        f"/accounts/{account}/invitations",
        json={"email": f"{user}@example.com", "role": role},
        headers=await api.bearer(inviter, account),
    )
    assert invited.status_code == 201, invited.text
    sent = await api.mailer.expect(SendMail)
    token = sent.mail.text.split("invitation code: ")[1].split()[0]
    accepted = await api.http.post(
        "/accounts/invitations/accept",
        json={"token": token},
        headers=await api.bearer(user, "acct-none"),
    )
    assert accepted.status_code == 200, accepted.text


async def _members(api: Api, account: str, caller: str) -> httpx.Response:
    return await api.http.get(
        f"/accounts/{account}/members", headers=await api.bearer(caller, account)
    )


async def test_create_invite_accept_and_a_forbidden_role_change(api: Api) -> None:
    ada = await api.bearer("usr-ada", "acct-none")
    created = await api.http.post("/accounts", json={"name": "Acme"}, headers=ada)
    assert created.status_code == 201, created.text
    acme = created.json()["account"]

    ada = await api.bearer("usr-ada", acme)
    invited = await api.http.post(
        f"/accounts/{acme}/invitations",
        json={"email": "bob@example.com", "role": "member"},
        headers=ada,
    )
    assert invited.status_code == 201, invited.text
    sent = await api.mailer.expect(SendMail)
    token = sent.mail.text.split("invitation code: ")[1].split()[0]

    bob = await api.bearer("usr-bob", "acct-none")
    accepted = await api.http.post(
        "/accounts/invitations/accept", json={"token": token}, headers=bob
    )
    assert accepted.json() == {"account": acme, "name": "Acme", "role": "member"}
    again = await api.http.post("/accounts/invitations/accept", json={"token": token}, headers=bob)
    assert again.status_code == 400
    assert again.headers["content-type"].startswith("application/problem+json")

    bob = await api.bearer("usr-bob", acme)
    promote = await api.http.put(
        f"/accounts/{acme}/members/usr-bob", json={"role": "owner"}, headers=bob
    )
    assert promote.status_code == 403, promote.text

    members = await api.http.get(f"/accounts/{acme}/members", headers=bob)
    assert members.json()["members"] == [
        {"user": "usr-ada", "role": "owner"},
        {"user": "usr-bob", "role": "member"},
    ]
    leave_last = await api.http.delete(f"/accounts/{acme}/members/usr-ada", headers=ada)
    assert leave_last.status_code == 409, leave_last.text
    left = await api.http.delete(f"/accounts/{acme}/members/usr-bob", headers=bob)
    assert left.status_code == 204


async def test_a_token_of_another_account_gets_403_and_no_token_401(api: Api) -> None:
    ada = await api.bearer("usr-ada", "acct-none")
    acme = (await api.http.post("/accounts", json={"name": "Acme"}, headers=ada)).json()["account"]
    mallory = await api.bearer("usr-mallory", "acct-none")
    mine = (await api.http.post("/accounts", json={"name": "M"}, headers=mallory)).json()["account"]

    mallory = await api.bearer("usr-mallory", mine)
    stolen = await api.http.get(f"/accounts/{acme}/members", headers=mallory)
    anonymous = await api.http.get(f"/accounts/{acme}/members")
    bad_role = await api.http.post(
        f"/accounts/{acme}/invitations",
        json={"email": "x@example.com", "role": "root"},
        headers=await api.bearer("usr-ada", acme),
    )

    assert stolen.status_code == 403
    assert anonymous.status_code == 401
    assert bad_role.status_code == 400


async def test_the_routes_are_in_the_openapi_document(api: Api) -> None:
    paths = (await api.http.get("/openapi.json")).json()["paths"]

    assert {"/accounts", "/accounts/invitations/accept"} <= set(paths)
    assert "/accounts/{account}/members/{user}" in paths


async def test_an_owner_changes_a_members_role_and_it_is_stored(api: Api) -> None:
    acme = await _account(api, "usr-ada")
    await _join(api, acme, "usr-ada", "usr-bob", "member")

    promoted = await api.http.put(
        f"/accounts/{acme}/members/usr-bob",
        json={"role": "admin"},
        headers=await api.bearer("usr-ada", acme),
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json() == {"user": "usr-bob", "role": "admin"}
    assert await roles_of(api.store, "usr-bob", acme) == ["admin"]
    # The new role works at once: bob, now an admin, may invite.
    await _join(api, acme, "usr-bob", "usr-carol", "member")
    members = (await _members(api, acme, "usr-ada")).json()["members"]
    assert {m["user"]: m["role"] for m in members} == {
        "usr-ada": "owner",
        "usr-bob": "admin",
        "usr-carol": "member",
    }


async def test_an_admin_removes_a_member_who_is_refused_at_once_with_a_live_token(
    api: Api,
) -> None:
    acme = await _account(api, "usr-ada")
    await _join(api, acme, "usr-ada", "usr-carol", "admin")
    await _join(api, acme, "usr-ada", "usr-bob", "member")
    bob_token = await api.bearer("usr-bob", acme)  # issued while bob is a member

    removed = await api.http.delete(
        f"/accounts/{acme}/members/usr-bob", headers=await api.bearer("usr-carol", acme)
    )
    assert removed.status_code == 204, removed.text
    assert await roles_of(api.store, "usr-bob", acme) == []
    members = (await _members(api, acme, "usr-carol")).json()["members"]
    assert [m["user"] for m in members] == ["usr-ada", "usr-carol"]
    refused = await api.http.get(f"/accounts/{acme}/members", headers=bob_token)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "you are not a member of this account"
    # An admin may not remove an owner.
    owner = await api.http.delete(
        f"/accounts/{acme}/members/usr-ada", headers=await api.bearer("usr-carol", acme)
    )
    assert owner.status_code == 403, owner.text


async def test_account_creation_switched_off_is_a_403_problem(start_api: ApiFactory) -> None:
    api = await start_api(account_creation=False)
    refused = await api.http.post(
        "/accounts", json={"name": "Acme"}, headers=await api.bearer("usr-ada", "acct-none")
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Not available"
    assert refused.json()["detail"] == "creating accounts is switched off"


async def test_invitations_switched_off_refuse_to_invite_and_to_accept(
    start_api: ApiFactory,
) -> None:
    api = await start_api(invitations=False)
    acme = await create_account(api.store, name="Acme", owner="usr-ada")
    invite = await api.http.post(
        f"/accounts/{acme}/invitations",
        json={"email": "bob@example.com", "role": "member"},
        headers=await api.bearer("usr-ada", acme),
    )
    accept = await api.http.post(
        "/accounts/invitations/accept",
        json={"token": "any-code"},
        headers=await api.bearer("usr-bob", "acct-none"),
    )
    for refused in (invite, accept):
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"] == "invitations are switched off"
    assert api.mailer.received_nothing()  # nothing was mailed
    paths = (await api.http.get("/openapi.json")).json()["paths"]
    assert "/accounts/invitations/accept" in paths  # declared still, as the login switches
