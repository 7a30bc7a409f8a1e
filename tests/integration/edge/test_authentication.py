"""Only verified, unrevoked access tokens pass the front; every refusal says why, never how."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enotime.auth import RevocationList, RevocationsChanged, TokenProblem
from enotime.edge import Where
from enotime.testing import ManualClock
from tests.integration.edge._doubles import CountingLogin, JwksFetches
from tests.integration.edge.conftest import AUDIENCE, ISSUER, Edge, StartEdge


def forge(
    edge: Edge,
    *,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    headers: dict[str, Any] | None = None,
    key: Any = None,
    algorithm: str = "EdDSA",
) -> str:
    """A token built with PyJWT by hand: the abuse cases a verifier must refuse."""
    now = time.time()
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "mallory",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "forged-1",
        "acct": "acme",
        "roles": ["owner"],
        "scope": "*",
    }
    payload.update(claims or {})
    for name in drop:
        del payload[name]
    header = {"kid": edge.keyring.current.kid, "typ": "at+jwt", **(headers or {})}
    signing_key = edge.keyring.current.private_key if key is None else key
    return jwt.encode(payload, signing_key, algorithm=algorithm, headers=header)


def unsigned(edge: Edge) -> str:
    """``alg: none`` and no signature: a token anyone can write."""
    _, payload, _ = forge(edge).split(".")
    header = b'{"alg":"none","typ":"at+jwt","kid":"' + edge.keyring.current.kid.encode() + b'"}'
    return f"{jwt.utils.base64url_encode(header).decode()}.{payload}."


def hmac_with_the_public_key(edge: Edge) -> str:
    public_x = edge.keyring.jwks()["keys"][0]["x"].encode()
    return forge(edge, key=public_x, algorithm="HS256")


def tampered(edge: Edge) -> str:
    header, payload, signature = edge.token().split(".")
    claims = jwt.utils.base64url_decode(payload.encode())
    promoted = claims.replace(b'"alice"', b'"admin"')
    return f"{header}.{jwt.utils.base64url_encode(promoted).decode()}.{signature}"


ABUSES: list[tuple[str, Callable[[Edge], str], TokenProblem]] = [
    ("garbage", lambda edge: "not-a-jwt", TokenProblem.MALFORMED),
    ("oversized", lambda edge: "e" * 5000, TokenProblem.TOO_LARGE),
    ("alg none", unsigned, TokenProblem.ALGORITHM),
    ("HS256 keyed with the public key", hmac_with_the_public_key, TokenProblem.ALGORITHM),
    (
        "unknown kid",
        lambda edge: forge(
            edge, headers={"kid": "kid-of-nobody"}, key=Ed25519PrivateKey.generate()
        ),
        TokenProblem.UNKNOWN_KID,
    ),
    (
        "signed by another key",
        lambda e: forge(e, key=Ed25519PrivateKey.generate()),
        TokenProblem.SIGNATURE,
    ),
    ("tampered payload", tampered, TokenProblem.SIGNATURE),
    (
        "expired",
        lambda edge: forge(edge, claims={"iat": time.time() - 900, "exp": time.time() - 600}),
        TokenProblem.EXPIRED,
    ),
    (
        "not yet valid",
        lambda e: forge(e, claims={"nbf": time.time() + 600}),
        TokenProblem.NOT_YET_VALID,
    ),
    ("wrong audience", lambda e: forge(e, claims={"aud": "billing-api"}), TokenProblem.AUDIENCE),
    ("wrong issuer", lambda e: forge(e, claims={"iss": "https://evil.test"}), TokenProblem.ISSUER),
    ("no jti", lambda edge: forge(edge, drop=("jti",)), TokenProblem.MISSING_CLAIM),
    ("not an access token", lambda e: forge(e, headers={"typ": "JWT"}), TokenProblem.TOKEN_TYPE),
]


@pytest.mark.parametrize(("case", "make", "problem"), ABUSES, ids=[case for case, *_ in ABUSES])
async def test_a_refused_token_is_a_401_naming_the_problem_but_not_the_token(
    edge: Edge, case: str, make: Callable[[Edge], str], problem: TokenProblem
) -> None:
    token = make(edge)

    response = await edge.client.get("/whoami", headers=edge.bearer(token))

    assert response.status_code == 401, case
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["token_problem"] == problem.value
    assert body["type"] == "urn:enotime:problem:invalid-token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert token not in response.text
    assert edge.seen.request_id is None  # the worker never saw it


async def test_no_authorization_header_is_a_401_with_a_bare_bearer_challenge(edge: Edge) -> None:
    response = await edge.client.get("/whoami")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "token_problem" not in response.json()


async def test_another_authorization_scheme_is_a_401(edge: Edge) -> None:
    response = await edge.client.get("/whoami", headers={"Authorization": "Basic YWxpY2U6cHc="})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_authentication_comes_before_validation(edge: Edge) -> None:
    response = await edge.client.post("/accounts/acme/notes", json={"title": 42})

    assert response.status_code == 401


async def test_a_token_revoked_by_the_login_actor_is_refused_from_then_on(edge: Edge) -> None:
    issued = edge.signer.issue("alice", account="acme", roles=["owner"])
    headers = edge.bearer(issued.token)
    assert (await edge.client.get("/whoami", headers=headers)).status_code == 200

    revoked = RevocationList()
    revoked.revoke(issued.jti, issued.expires_at)
    edge.front.send(RevocationsChanged(revoked.snapshot()))
    await edge.front.call(Where())  # handled after the cast: messages keep their order

    response = await edge.client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.json()["token_problem"] == "revoked"
    assert (await edge.client.get("/whoami", headers=edge.bearer())).status_code == 200


async def test_revoking_a_subject_refuses_every_token_it_was_issued_before(edge: Edge) -> None:
    before = edge.token("alice")
    other = edge.token("bob")
    revoked = RevocationList()
    revoked.revoke_subject("alice", time.time() + 1)

    edge.front.send(RevocationsChanged(revoked.snapshot()))
    await edge.front.call(Where())

    assert (await edge.client.get("/whoami", headers=edge.bearer(before))).status_code == 401
    assert (await edge.client.get("/whoami", headers=edge.bearer(other))).status_code == 200


async def test_revocations_are_loaded_from_the_login_actor_at_start(start_edge: StartEdge) -> None:
    revoked = RevocationList()
    revoked.revoke_subject("alice", time.time() + 60)
    edge = await start_edge(revocations=revoked)

    response = await edge.client.get("/whoami", headers=edge.bearer(edge.token("alice")))

    assert response.json()["token_problem"] == "revoked"


async def test_a_malformed_revocation_push_is_ignored(edge: Edge) -> None:
    edge.front.send(RevocationsChanged({"tokens": "everything"}))
    await edge.front.call(Where())

    assert (await edge.client.get("/whoami", headers=edge.bearer())).status_code == 200


async def test_a_rotated_in_key_is_fetched_on_first_use(edge: Edge) -> None:
    assert edge.login is not None
    before = await edge.login.call(JwksFetches())
    edge.keyring.rotate()

    response = await edge.client.get("/whoami", headers=edge.bearer())

    assert response.status_code == 200
    assert await edge.login.call(JwksFetches()) == before + 1
    jwks = (await edge.client.get("/.well-known/jwks.json")).json()
    assert {key["kid"] for key in jwks["keys"]} == set(edge.keyring.kids)


async def test_unknown_kids_refresh_the_keys_at_most_once_per_floor(
    edge: Edge, clock: ManualClock
) -> None:
    assert edge.login is not None
    start = await edge.login.call(JwksFetches())
    stranger = Ed25519PrivateKey.generate()

    async def invent_a_kid(kid: str) -> int:
        token = forge(edge, headers={"kid": kid}, key=stranger)
        response = await edge.client.get("/whoami", headers=edge.bearer(token))
        assert response.json()["token_problem"] == "unknown_kid"
        return await edge.login.call(JwksFetches()) - start  # type: ignore[union-attr]

    assert await invent_a_kid("invented-1") == 1
    assert await invent_a_kid("invented-2") == 1
    assert await invent_a_kid("invented-3") == 1
    clock.advance(10.5)  # past the default floor
    assert await invent_a_kid("invented-4") == 2


async def test_a_front_started_before_the_login_actor_gets_the_keys_once_it_runs(
    start_edge: StartEdge, clock: ManualClock
) -> None:
    edge = await start_edge(with_login=False)
    token = edge.token()
    refused = await edge.client.get("/whoami", headers=edge.bearer(token))
    assert refused.json()["token_problem"] == "unknown_kid"

    await edge.node.spawn(CountingLogin, edge.keyring, edge.revocations, name="login")
    clock.advance(10.5)

    assert (await edge.client.get("/whoami", headers=edge.bearer(token))).status_code == 200
