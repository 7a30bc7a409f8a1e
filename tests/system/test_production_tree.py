"""``supervisors.production``: the HTTP system's trees with adapters picked from the environment.

What the deployment stack's nodes run: ``login`` on the login node, ``system``
on the API nodes. The choice of adapters is checked from the settings alone;
CouchDB is exercised for real against pouchdb-server (the fixture of the store
contract suite starts it when it is installed), first alone, then under both
trees, each on a node of its own, connected, with a user signing up and
logging in through an API node. No Vault server can be installed here: the
Vault engine the settings make is checked against the fake Vault of
``tests/integration/test_vault_http_api.py`` (Vault's documented HTTP API),
for its AppRole login; the trees that run share one embedded engine instead,
as the nodes share one Vault.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from enotime import ChildSpec, Node
from enotime.crypto import CryptoService, EmbeddedCryptoEngine, VaultCryptoEngine
from enotime.edge import EdgeConfig, Where
from enotime.mail import Outbox, SmtpMailer
from enotime.store import CouchDBStore, Document
from enotime.transport import Keyring, LocalBroker, LocalTransport
from supervisors import production
from supervisors.demo import system as demo_system
from supervisors.production import (
    MissingSetting,
    crypto_from_env,
    mailer_from_env,
    store_from_env,
    system,
)
from tests.contract.conftest import CouchService, _delete_database, couch_service
from tests.integration.test_deploy_files import PASSWORD, _mailed_token, _post
from tests.integration.test_vault_http_api import FakeVault, vault

__all__ = ["couch_service", "vault"]  # fixtures, used by name

ENV = {
    "ENOTIME_COUCHDB_URL": "http://couchdb:5984",
    "VAULT_ADDR": "http://vault:8200",
    "VAULT_TOKEN": "hvs.from-env",
}


def children(spec: ChildSpec) -> dict[str, ChildSpec]:
    return {c.id: c for c in spec.kwargs["children"]}


def test_the_api_and_login_trees_are_the_demo_s_services_on_couchdb_and_vault() -> None:
    env = {
        **ENV,
        "ENOTIME_HTTP_HOST": "0.0.0.0",
        "ENOTIME_HTTP_PORT": "8001",
        "ENOTIME_PUBLIC_URL": "https://app.example.com/",
    }
    api, login = children(system(env)), children(production.login(env))
    assert list(api) == ["crypto", "store", "mailer", "accounts", "notes", "front"]
    assert list(login) == ["crypto", "store", "mailer", "login", "login-sweeper", "login-exposer"]
    assert set(api) | set(login) == set(children(demo_system(port=0, data=Path("unused")))) | {
        "login-exposer"
    }
    assert login["login-exposer"].args == (production.LOGIN_SERVICE, "login")
    for tree in (api, login):
        crypto = tree["crypto"]
        assert crypto.factory is CryptoService  # not the demo's self-unsealing keyring
        [engine] = crypto.args
        assert isinstance(engine, VaultCryptoEngine)
        assert repr(engine) == "<VaultCryptoEngine 'http://vault:8200' mount='transit'>"
        assert callable(tree["store"].args[0])
        [mailer] = tree["mailer"].args
        assert isinstance(mailer, Outbox)  # no ENOTIME_SMTP_HOST
    [edge] = [a for a in api["front"].args if isinstance(a, EdgeConfig)]
    assert (edge.host, edge.port, edge.jwks_source) == ("0.0.0.0", 8001, production.LOGIN_SERVICE)
    [login_config] = login["login"].args
    assert login_config.link_base_url == "https://app.example.com/auth"
    [accounts_config] = api["accounts"].args
    assert accounts_config.invitation_url.startswith("https://app.example.com/accounts/")


@pytest.mark.parametrize(
    ("unset", "given", "named"),
    [
        ("ENOTIME_COUCHDB_URL", {}, "ENOTIME_COUCHDB_URL"),
        ("VAULT_ADDR", {}, "VAULT_ADDR"),
        ("VAULT_TOKEN", {}, "VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID"),
        ("VAULT_TOKEN", {"VAULT_ROLE_ID": "r"}, "VAULT_ROLE_ID and VAULT_SECRET_ID"),
        (None, {"ENOTIME_COUCHDB_URL": "couchdb:5984"}, "ENOTIME_COUCHDB_URL must be an http"),
        (None, {"ENOTIME_COUCHDB_URL": "http://u:p@couchdb:5984"}, "must not carry credentials"),
        (None, {"ENOTIME_HTTP_PORT": "eighty"}, "ENOTIME_HTTP_PORT must be a port"),
        (None, {"ENOTIME_SMTP_HOST": "smtp"}, "ENOTIME_SMTP_SENDER"),
    ],
)
def test_a_missing_setting_stops_the_node_and_is_named(
    unset: str | None, given: dict[str, str], named: str
) -> None:
    env = {k: v for k, v in ENV.items() if k != unset} | given
    for tree in (system, production.login):
        if given.keys() == {"ENOTIME_HTTP_PORT"} and tree is production.login:
            continue  # the login node serves no HTTP
        with pytest.raises(MissingSetting, match=re.escape(named)):
            tree(env)


def test_secrets_come_from_files_too(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    base = {k: v for k, v in ENV.items() if k != "VAULT_TOKEN"}
    with pytest.raises(MissingSetting, match=r"VAULT_TOKEN_FILE=.*empty"):
        crypto_from_env({**base, "VAULT_TOKEN_FILE": str(tmp_path / "empty")})
    with pytest.raises(MissingSetting, match=r"VAULT_ROLE_ID_FILE=.*cannot read"):
        crypto_from_env({**base, "VAULT_ROLE_ID_FILE": str(tmp_path / "none")})


def test_smtp_is_used_when_a_host_is_set() -> None:
    smtp = {"ENOTIME_SMTP_HOST": "smtp.example.com", "ENOTIME_SMTP_SENDER": "no-reply@example.com"}
    assert isinstance(mailer_from_env(smtp), SmtpMailer)
    with pytest.raises(MissingSetting, match="ENOTIME_SMTP_TLS"):
        mailer_from_env({**smtp, "ENOTIME_SMTP_TLS": "ssl"})


async def test_the_vault_engine_logs_in_with_the_approle_in_its_files(
    vault: FakeVault, tmp_path: Path
) -> None:
    (tmp_path / "role-id").write_text("role-1\n")
    (tmp_path / "secret-id").write_text("secret-1\n")
    env = {
        "VAULT_ADDR": vault.url,
        "VAULT_ROLE_ID_FILE": str(tmp_path / "role-id"),
        "VAULT_SECRET_ID_FILE": str(tmp_path / "secret-id"),
    }
    vault.reply("POST", "/v1/auth/approle/login", body={"auth": {"client_token": "hvs.login"}})
    vault.reply("POST", "/v1/transit/encrypt/k", body={"data": {"ciphertext": "vault:v1:abcd"}})
    engine = crypto_from_env(env)
    try:
        await engine.encrypt("k", b"x")
    finally:
        await engine.aclose()
    [login] = vault.sent("/v1/auth/approle/login")
    assert login.body == {"role_id": "role-1", "secret_id": "secret-1"}
    assert [r.token for r in vault.sent("/v1/transit/encrypt/k")] == ["hvs.login"]


@pytest.fixture
async def couch_env(
    couch_service: CouchService, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[dict[str, str]]:
    """Production settings on a fresh database of pouchdb-server; deleted afterwards."""
    if couch_service.url is None:
        require_service(couch_service.reason)
    database = f"enotime-test-{uuid.uuid4().hex}"
    yield {**ENV, "ENOTIME_COUCHDB_URL": couch_service.url, "ENOTIME_COUCHDB_DATABASE": database}
    await asyncio.to_thread(_delete_database, f"{couch_service.url}/{database}")


async def test_the_store_is_couchdb(couch_env: dict[str, str]) -> None:
    store = await store_from_env(couch_env)()
    try:
        assert isinstance(store, CouchDBStore)
        rev = await store.put(Document("d-1", "note", {"n": 1}), None)
        assert await store.get("d-1") == Document("d-1", "note", {"n": 1}, rev)
    finally:
        await store.aclose()


async def test_the_trees_run_on_couchdb_the_login_node_apart(
    couch_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user signs up and logs in through an API node whose login service is on another
    node; their records land in CouchDB, sealed."""
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")  # one Vault for all nodes, here
    for share in await engine.initialize(shares=1, threshold=1):
        await engine.submit_unseal_share(share)
    monkeypatch.setattr(production, "crypto_from_env", lambda env: engine)
    outbox = Outbox(stream=None)
    env = {**couch_env, "ENOTIME_HTTP_PORT": "0"}
    broker = LocalBroker(Keyring.generate("production-test"))
    email = "prod@example.com"
    credentials = {"email": email, "password": PASSWORD}
    async with contextlib.AsyncExitStack() as stack:
        login_node, api_node = [
            await _connected(stack, broker, name) for name in ("node-login", "node-api")
        ]
        await login_node.start(production.login(env, mailer=outbox))
        await api_node.start(system(env, mailer=Outbox(stream=None)))
        assert api_node.whereis("login") is None  # reached through the cluster
        front = await api_node.lookup("front").call(Where())
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=front.url, timeout=10.0)
        )
        await _post(client, "/auth/register", credentials, 202)
        token = await _mailed_token(login_node, outbox, email, "/verify-email")
        await _post(client, "/auth/verify-email", {"token": token}, 200)
        tokens = await _post(client, "/auth/login", credentials, 200)
        me = await client.get("/auth/me", headers=_bearer(tokens))  # the JWKS, across nodes
        assert me.status_code == 200, me.text
        notes = f"/accounts/{tokens['account']}/notes"
        note = {"title": "from production", "body": "sealed in CouchDB"}
        created = await client.post(notes, json=note, headers=_bearer(tokens))
        assert created.status_code == 201, created.text
    documents = await _all_docs(couch_env)
    assert {doc["type"] for doc in documents} >= {"login.user", "note"}
    for plain in (email, "from production", "sealed in CouchDB"):
        assert plain not in str(documents)  # sealed: no plain address or note in the database


async def _connected(stack: contextlib.AsyncExitStack, broker: LocalBroker, name: str) -> Node:
    """A node connected to the test's in-process broker, closed with ``stack``."""
    transport = LocalTransport(broker, name)
    await transport.open()
    stack.push_async_callback(transport.aclose)
    node = await stack.enter_async_context(Node(name, shutdown_timeout=5.0))
    await node.connect(transport)
    return node


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _all_docs(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every document of the test's database, as CouchDB holds it."""
    url = f"{env['ENOTIME_COUCHDB_URL']}/{env['ENOTIME_COUCHDB_DATABASE']}/_all_docs"
    async with httpx.AsyncClient(timeout=10.0) as client:
        answer = await client.get(
            url, params={"include_docs": "true"}, headers={"Accept": "application/json"}
        )
    answer.raise_for_status()
    return [row["doc"] for row in answer.json()["rows"] if not row["id"].startswith("_design/")]
