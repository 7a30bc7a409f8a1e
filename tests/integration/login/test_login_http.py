"""The login flows over real HTTP: ``enotime.login.endpoints()`` served by a front on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from enotime.edge import Where
from enotime.login import endpoints
from tests.integration.login.conftest import Http
from tests.unit.login.conftest import PASSWORD


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


async def _enrolled(http: Http, email: str) -> tuple[str, str]:
    """Register ``email``, log in and enrol TOTP over HTTP: the access token and the secret."""
    system = http.system
    await system.register(email)
    tokens = await system.log_in(email)
    secret = (await http.post("/auth/mfa/enrol", None, tokens.access_token)).json()["secret"]
    confirmed = await http.post(
        "/auth/mfa/confirm", {"code": system.totp_code(secret)}, tokens.access_token
    )
    assert confirmed.status_code == 200, confirmed.text
    system.time.advance(30)  # the confirming code's time step is spent
    return tokens.access_token, secret


@pytest.mark.parametrize("proof", ["code", "password"])
async def test_mfa_is_disabled_over_http_with_a_code_or_the_password_not_a_wrong_one(
    http: Http, proof: str
) -> None:
    access, secret = await _enrolled(http, "alice@example.com")
    right, wrong = {
        "code": ({"code": http.system.totp_code(secret)}, {"code": "000000"}),
        "password": ({"password": PASSWORD}, {"password": "not the password at all"}),
    }[proof]
    refused = await http.post("/auth/mfa/disable", wrong, access)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await http.get("/auth/me", access)).json()["mfa_enabled"] is True

    disabled = await http.post("/auth/mfa/disable", right, access)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json() == {"detail": "two-factor authentication is disabled"}
    again = await http.post("/auth/mfa/disable", {"password": PASSWORD}, access)
    assert again.status_code == 409, again.text  # nothing left to disable

    login = await http.post("/auth/login", {"email": "alice@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["mfa_required"] is False
    assert (await http.get("/auth/me", login.json()["access_token"])).json()["mfa_enabled"] is False
    mails = await http.system.mails_to("alice@example.com")
    assert [m.subject for m in mails].count("Two-factor authentication disabled") == 1


async def test_a_verification_token_works_once_over_http(http: Http) -> None:
    await http.system.register("alice@example.com", verify=False)
    token = await http.system.last_token_to("alice@example.com", "/verify-email")

    first = await http.post("/auth/verify-email", {"token": token})
    assert first.status_code == 200, first.text
    second = await http.post("/auth/verify-email", {"token": token})
    assert second.status_code == 400, second.text
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["detail"] == "this link or token is invalid or has expired"
    assert second.json()["type"] == "urn:enotime:problem:invalid-or-expired-token"


async def test_a_rotated_out_refresh_token_is_refused_and_kills_its_whole_family(
    http: Http,
) -> None:
    system = http.system
    await system.register("alice@example.com")
    credentials = {"email": "alice@example.com", "password": PASSWORD}
    first = (await http.post("/auth/login", credentials)).json()
    other_session = (await http.post("/auth/login", credentials)).json()

    system.time.advance(1)
    rotated = await http.post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()
    assert newest["refresh_token"] != first["refresh_token"]
    assert (await http.get("/auth/me", newest["access_token"])).status_code == 200

    system.time.advance(1)
    replayed = await http.post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["detail"] == "the session has ended: log in again"
    # The login actor pushed the revocation into the front's mailbox before it answered;
    # a call behind it in that mailbox returns once the front has merged it.
    await http.front.call(Where())

    # The thief's replay ended the family: the newest refresh token is dead too...
    dead = await http.post("/auth/refresh", {"refresh_token": newest["refresh_token"]})
    assert dead.status_code == 401, dead.text
    # ... and so is every access token of the user issued so far.
    me = await http.get("/auth/me", newest["access_token"])
    assert me.status_code == 401
    assert me.json()["token_problem"] == "revoked"
    # Another session of the user keeps its refresh token (only the stolen family ends).
    kept = await http.post("/auth/refresh", {"refresh_token": other_session["refresh_token"]})
    assert kept.status_code == 200, kept.text
    assert system.login.is_alive
