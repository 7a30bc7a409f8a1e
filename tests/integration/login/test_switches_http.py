"""Login flows switched off in ``LoginConfig``, over real HTTP: a clear 403, the rest unchanged.

As with the switches that came first (``registration``, ``password_reset``,
``mfa``, ...), a route whose flow is off stays declared -- it answers a 403
problem document that says so -- and stays in the OpenAPI document.
"""

from __future__ import annotations

from enotime.auth import Jwks
from enotime.crypto import CryptoClient
from enotime.login._records import DECOY_ID
from tests.integration.login.conftest import HttpFactory
from tests.unit.login.conftest import PASSWORD

ALICE = {"email": "alice@example.com", "password": PASSWORD}
WRONG = {"email": "alice@example.com", "password": "not the password at all"}
UNKNOWN = {"email": "nobody@example.com", "password": "not the password at all"}
A_REFRESH_TOKEN = "A" * 22 + "." + "B" * 43  # well formed: the switch, not the pattern, refuses


async def test_without_refresh_tokens_a_login_answers_an_access_token_and_refresh_is_403(
    start_http: HttpFactory,
) -> None:
    http = await start_http(refresh_tokens=False)
    await http.system.register("alice@example.com")

    login = await http.post("/auth/login", ALICE)
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["refresh_token"] is None
    assert (await http.get("/auth/me", tokens["access_token"])).status_code == 200

    refused = await http.post("/auth/refresh", {"refresh_token": A_REFRESH_TOKEN})
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Not available"
    assert refused.json()["detail"] == "refresh tokens are switched off: log in again"
    switch = await http.post(
        "/auth/switch-account",
        {"account": tokens["account"], "refresh_token": A_REFRESH_TOKEN},
        tokens["access_token"],
    )
    assert switch.status_code == 403, switch.text
    # Without one, switching accounts still works: it only issues an access token.
    alone = await http.post(
        "/auth/switch-account", {"account": tokens["account"]}, tokens["access_token"]
    )
    assert alone.status_code == 200, alone.text
    assert "/auth/refresh" in (await http.client.get("/openapi.json")).json()["paths"]


async def test_without_lockout_failures_never_lock_and_nothing_is_written_for_them(
    start_http: HttpFactory,
) -> None:
    http = await start_http(lockout=False)
    system = http.system
    await system.register("alice@example.com")
    crypto = CryptoClient(system.node.lookup("crypto"))
    lookup = await crypto.hmac(system.config.lookup_key, b"alice@example.com")
    [alice] = await system.store.find("login.user", email_lookup=lookup)

    async def revisions() -> tuple[str | None, str | None]:
        await system.call(Jwks())  # queued behind any write after the replies: it has run
        user, decoy = await system.store.get(alice.id), await system.store.get(DECOY_ID)
        return user.rev, decoy.rev

    before = await revisions()
    for _ in range(system.config.max_failures + 2):
        assert (await http.post("/auth/login", WRONG)).status_code == 401
    assert (await http.post("/auth/login", UNKNOWN)).status_code == 401
    # Known or unknown address, a failure costs one verify and no write: the same work.
    assert await revisions() == before
    assert (system.hasher.verifies, system.hasher.dummy_verifies) == (
        system.config.max_failures + 2,
        1,
    )
    assert (await http.post("/auth/login", ALICE)).status_code == 200  # never locked
