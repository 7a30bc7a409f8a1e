"""The accounts routes over real HTTP: a front on 127.0.0.1 in front of the accounts actor.

The login actor is stood in for by a small actor that publishes the JWKS and
the revocations; tokens are signed as the login actor signs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

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
from enotime.login._accounts import AccountsService
from enotime.login._accounts_endpoints import endpoints
from enotime.login._memberships import DOCUMENT_TYPES, roles_of
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


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")
    [share] = await engine.initialize(shares=1, threshold=1)
    await engine.submit_unseal_share(share)
    adapter = await SQLiteStore.open(tmp_path / "store.sqlite3")
    keyring = JwtKeyring()
    try:
        async with Node("accounts-http", shutdown_timeout=5.0) as node:
            crypto = CryptoClient(await node.spawn(CryptoService, engine, name="crypto"))
            store = await node.spawn(StoreService, adapter, crypto, DOCUMENT_TYPES, name="store")
            mailer = await Probe.start(node, name="mailer")
            await node.spawn(AccountsService, name="accounts")
            await node.spawn(LoginStandIn, keyring, RevocationList(), name="login")
            front = await node.spawn(
                FrontService, endpoints(), EdgeConfig(issuer="it", audience="it"), name="front"
            )
            address = await front.call(Where())
            async with httpx.AsyncClient(base_url=address.url, timeout=10.0) as http:
                signer = TokenSigner(keyring, issuer="it", audience="it")
                yield Api(http, StoreClient(store), mailer, signer)
    finally:
        await adapter.aclose()


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
