"""Access tokens: what the signer issues, and every token the verifier must refuse.

Hostile tokens are built here with PyJWT and base64 directly, never with the
signer under test.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from enotime.auth import (
    ACCESS_TOKEN_TYPE,
    InvalidToken,
    JwtKeyring,
    RevocationList,
    TokenProblem,
    TokenSigner,
    TokenVerifier,
    Unauthenticated,
)
from tests.unit._wall_clock import START, WallClock

from .conftest import AUDIENCE, ISSUER


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims at START, with ``changes`` (None removes a claim)."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": START,
        "nbf": START,
        "exp": START + 300,
        "jti": "jti-1",
        "acct": "acct-1",
        "roles": ["owner"],
        "scope": "*",
        "amr": ["pwd"],
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def forge(
    keyring: JwtKeyring, payload: dict[str, Any], *, headers: dict[str, Any] | None = None
) -> str:
    """Sign ``payload`` with the ring's current key, directly through PyJWT."""
    key = keyring.current
    header = {"kid": key.kid, "typ": ACCESS_TOKEN_TYPE, **(headers or {})}
    return jwt.encode(payload, key.private_key, algorithm="EdDSA", headers=header)


def refused(verifier: TokenVerifier, token: str | bytes) -> TokenProblem:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.problem


# -- what the signer issues ------------------------------------------------------


def test_an_issued_token_carries_the_header_and_claims_of_the_contract(
    signer: TokenSigner, keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    issued = signer.issue(
        "user-1", account="acct-1", roles=["member"], scope="notes:read notes:write"
    )

    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "EdDSA", "kid": keyring.current.kid, "typ": "at+jwt"}
    verified = verifier.verify(issued.token)
    assert verified == issued.claims
    assert verified["iss"] == ISSUER
    assert verified["aud"] == AUDIENCE
    assert verified["sub"] == "user-1"
    assert verified["acct"] == "acct-1"
    assert verified["roles"] == ["member"]
    assert verified["scope"] == "notes:read notes:write"
    assert verified["amr"] == ["pwd"]
    assert verified["iat"] == verified["nbf"] == START
    assert verified["exp"] == issued.expires_at == START + 300
    assert verified["jti"] == issued.jti


def test_every_token_gets_its_own_jti(signer: TokenSigner) -> None:
    jtis = {signer.issue("u", account="a", roles=[]).jti for _ in range(20)}
    assert len(jtis) == 20


def test_extra_claims_are_added_but_cannot_override_registered_ones(
    signer: TokenSigner, verifier: TokenVerifier
) -> None:
    issued = signer.issue("u", account="a", roles=[], extra={"sid": "session-1"})
    assert verifier.verify(issued.token)["sid"] == "session-1"
    with pytest.raises(ValueError, match="override"):
        signer.issue("u", account="a", roles=[], extra={"sub": "someone-else"})


@pytest.mark.parametrize(
    ("bad", "complaint"),
    [
        ({"subject": ""}, "subject"),
        ({"roles": [""]}, "roles"),
        ({"roles": "owner"}, "roles"),
        ({"scope": "  "}, "scope"),
    ],
)
def test_the_signer_refuses_empty_subjects_roles_and_scopes(
    signer: TokenSigner, bad: dict[str, Any], complaint: str
) -> None:
    arguments: dict[str, Any] = {"subject": "u", "roles": ["owner"], "scope": "*", **bad}
    subject = arguments.pop("subject")
    with pytest.raises(ValueError, match=complaint):
        signer.issue(subject, account="a", **arguments)


def test_an_issued_token_never_shows_in_its_repr(signer: TokenSigner) -> None:
    issued = signer.issue("u", account="a", roles=[])
    assert issued.token not in repr(issued)


# -- the abuse cases ---------------------------------------------------------------


def test_alg_none_is_refused(keyring: JwtKeyring, verifier: TokenVerifier) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keyring.current.kid}
    token = f"{b64_json(header)}.{b64_json(claims())}."
    assert refused(verifier, token) is TokenProblem.ALGORITHM


def test_alg_none_through_pyjwt_is_refused(keyring: JwtKeyring, verifier: TokenVerifier) -> None:
    token = jwt.encode(
        claims(), "", algorithm="none", headers={"kid": keyring.current.kid, "typ": "at+jwt"}
    )
    assert refused(verifier, token) is TokenProblem.ALGORITHM


def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    """Algorithm confusion: the attacker knows the public key and uses it as an HMAC secret."""
    public = keyring.current.private_key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = keyring.jwks()["keys"][0]["x"]
    headers = {"kid": keyring.current.kid, "typ": "at+jwt"}
    for secret in (raw, x.encode()):
        token = jwt.encode(claims(), secret, algorithm="HS256", headers=headers)
        assert refused(verifier, token) is TokenProblem.ALGORITHM


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS512", "EdDSA ", "eddsa", None])
def test_any_algorithm_but_eddsa_is_refused_before_verifying(
    keyring: JwtKeyring, verifier: TokenVerifier, alg: str | None
) -> None:
    valid = forge(keyring, claims())
    _, payload, signature = valid.split(".")
    header = {"alg": alg, "typ": "at+jwt", "kid": keyring.current.kid}
    token = f"{b64_json(header)}.{payload}.{signature}"
    assert refused(verifier, token) is TokenProblem.ALGORITHM


def test_an_expired_token_is_refused_once_the_leeway_has_passed(
    signer: TokenSigner, verifier: TokenVerifier, wall: WallClock
) -> None:
    issued = signer.issue("u", account="a", roles=[])
    wall.advance(300 + 4.9)  # exp + less than the 5 s leeway
    assert verifier.verify(issued.token)["sub"] == "u"
    wall.advance(0.2)
    assert refused(verifier, issued.token) is TokenProblem.EXPIRED


def test_a_forged_expired_token_is_refused(keyring: JwtKeyring, verifier: TokenVerifier) -> None:
    token = forge(keyring, claims(iat=START - 600, nbf=START - 600, exp=START - 60))
    assert refused(verifier, token) is TokenProblem.EXPIRED


@pytest.mark.parametrize(
    "times",
    [
        {"nbf": START + 60},
        {"iat": START + 60, "nbf": START + 60, "exp": START + 360},
        {"iat": START + 60, "nbf": None},
    ],
)
def test_a_token_not_yet_valid_is_refused(
    keyring: JwtKeyring, verifier: TokenVerifier, times: dict[str, Any]
) -> None:
    assert refused(verifier, forge(keyring, claims(**times))) is TokenProblem.NOT_YET_VALID


def test_a_token_from_slightly_ahead_clock_is_accepted_within_the_leeway(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    token = forge(keyring, claims(iat=START + 4, nbf=START + 4))
    assert verifier.verify(token)["sub"] == "user-1"


@pytest.mark.parametrize("aud", ["another-api", [AUDIENCE, "another-api"], [AUDIENCE], ""])
def test_a_token_for_another_audience_is_refused(
    keyring: JwtKeyring, verifier: TokenVerifier, aud: Any
) -> None:
    problem = refused(verifier, forge(keyring, claims(aud=aud)))
    assert problem in {TokenProblem.AUDIENCE, TokenProblem.MISSING_CLAIM}
    if aud:
        assert problem is TokenProblem.AUDIENCE


def test_a_token_from_another_issuer_is_refused(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    token = forge(keyring, claims(iss="https://evil.test"))
    assert refused(verifier, token) is TokenProblem.ISSUER


def test_a_tampered_payload_is_refused(signer: TokenSigner, verifier: TokenVerifier) -> None:
    header, _, signature = signer.issue("user-1", account="a", roles=["member"]).token.split(".")
    promoted = b64_json(claims(sub="user-1", acct="a", roles=["owner"]))
    assert refused(verifier, f"{header}.{promoted}.{signature}") is TokenProblem.SIGNATURE


def test_a_tampered_signature_is_refused(signer: TokenSigner, verifier: TokenVerifier) -> None:
    header, payload, signature = signer.issue("u", account="a", roles=[]).token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    token = f"{header}.{payload}.{b64(bytes(raw))}"
    assert refused(verifier, token) is TokenProblem.SIGNATURE


def test_a_token_signed_by_an_unknown_key_is_refused_as_unknown_kid(
    verifier: TokenVerifier,
) -> None:
    stranger = JwtKeyring()
    token = forge(stranger, claims())
    assert not verifier.knows(stranger.current.kid)
    assert refused(verifier, token) is TokenProblem.UNKNOWN_KID


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused_as_bad_signature(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    stranger = JwtKeyring()
    headers = {"kid": keyring.current.kid, "typ": "at+jwt"}
    token = jwt.encode(claims(), stranger.current.private_key, algorithm="EdDSA", headers=headers)
    assert refused(verifier, token) is TokenProblem.SIGNATURE


def test_an_oversized_token_is_refused_before_it_is_parsed(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    signed = forge(keyring, claims(padding="x" * 5000))
    assert refused(verifier, signed) is TokenProblem.TOO_LARGE
    assert refused(verifier, "not even a jwt " * 400) is TokenProblem.TOO_LARGE
    assert refused(verifier, b"." * 4097) is TokenProblem.TOO_LARGE


@pytest.mark.parametrize("claim", ["jti", "sub", "acct", "exp", "iat", "iss", "aud"])
def test_a_token_missing_a_required_claim_is_refused(
    keyring: JwtKeyring, verifier: TokenVerifier, claim: str
) -> None:
    token = forge(keyring, claims(**{claim: None}))
    assert refused(verifier, token) is TokenProblem.MISSING_CLAIM


@pytest.mark.parametrize("typ", ["JWT", "refresh+jwt", "at+jwt2", 7, None])
def test_a_token_of_another_type_is_refused(
    keyring: JwtKeyring, verifier: TokenVerifier, typ: Any
) -> None:
    valid = forge(keyring, claims())
    _, payload, signature = valid.split(".")
    header = {"alg": "EdDSA", "kid": keyring.current.kid, "typ": typ}
    if typ is None:
        del header["typ"]
    assert refused(verifier, f"{b64_json(header)}.{payload}.{signature}") is (
        TokenProblem.TOKEN_TYPE
    )


def test_the_media_type_form_of_the_access_token_type_is_accepted(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    token = forge(keyring, claims(), headers={"typ": "application/AT+JWT"})
    assert verifier.verify(token)["sub"] == "user-1"


def test_a_revoked_jti_is_refused(
    signer: TokenSigner, verifier: TokenVerifier, revocations: RevocationList
) -> None:
    issued = signer.issue("u", account="a", roles=[])
    other = signer.issue("u", account="a", roles=[])
    revocations.revoke(issued.jti, issued.expires_at)
    assert refused(verifier, issued.token) is TokenProblem.REVOKED
    assert verifier.verify(other.token)["jti"] == other.jti


def test_a_revoked_subject_refuses_tokens_issued_before_but_not_after(
    signer: TokenSigner, verifier: TokenVerifier, revocations: RevocationList, wall: WallClock
) -> None:
    before = signer.issue("u", account="a", roles=[])
    someone_else = signer.issue("v", account="a", roles=[])
    wall.advance(1.5)
    revocations.revoke_subject("u", issued_before=wall())
    after = signer.issue("u", account="a", roles=[])  # same instant as the revocation

    assert refused(verifier, before.token) is TokenProblem.REVOKED
    assert verifier.verify(after.token)["jti"] == after.jti
    assert verifier.verify(someone_else.token)["sub"] == "v"


def test_key_rotation_old_tokens_verify_until_the_key_is_retired(
    keyring: JwtKeyring, signer: TokenSigner, verifier: TokenVerifier
) -> None:
    old_kid = keyring.current.kid
    old = signer.issue("u", account="a", roles=[])
    new_kid = keyring.rotate()
    new = signer.issue("u", account="a", roles=[])
    assert jwt.get_unverified_header(new.token)["kid"] == new_kid

    assert refused(verifier, new.token) is TokenProblem.UNKNOWN_KID  # JWKS not reloaded yet
    verifier.update_jwks(keyring.jwks())
    assert verifier.verify(old.token)["jti"] == old.jti
    assert verifier.verify(new.token)["jti"] == new.jti

    keyring.retire(old_kid)
    verifier.update_jwks(keyring.jwks())
    assert not verifier.knows(old_kid)
    assert refused(verifier, old.token) is TokenProblem.UNKNOWN_KID
    assert verifier.verify(new.token)["jti"] == new.jti


def test_a_verifier_built_from_the_published_jwks_verifies(
    keyring: JwtKeyring, signer: TokenSigner, wall: WallClock
) -> None:
    keyring.rotate()
    published = json.loads(json.dumps(keyring.jwks()))  # as served and fetched
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=published, clock=wall)
    issued = signer.issue("u", account="a", roles=["owner"])
    assert verifier.verify(issued.token) == issued.claims
    assert set(verifier.kids) == set(keyring.kids)


def test_a_verifier_without_keys_refuses_every_token_as_unknown_kid(
    signer: TokenSigner, wall: WallClock
) -> None:
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, clock=wall)
    assert refused(verifier, signer.issue("u", account="a", roles=[]).token) is (
        TokenProblem.UNKNOWN_KID
    )


# -- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "e30.e30.",
        f"{b64(b'not json')}.e30.sig",
        f"{b64_json([1, 2])}.e30.sig",
        "\u00e9\u00e9.\u00e9.\u00e9",
    ],
)
def test_malformed_tokens_are_refused_as_malformed(verifier: TokenVerifier, token: str) -> None:
    assert refused(verifier, token) in {TokenProblem.MALFORMED, TokenProblem.ALGORITHM}


def test_a_token_that_is_not_a_string_is_malformed(verifier: TokenVerifier) -> None:
    assert refused(verifier, 42) is TokenProblem.MALFORMED  # type: ignore[arg-type]


def test_a_critical_header_extension_the_verifier_does_not_know_is_malformed(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    unknown = "https://example.test/unknown"
    token = forge(keyring, claims(), headers={"crit": [unknown], unknown: 1})
    assert refused(verifier, token) is TokenProblem.MALFORMED


def test_a_kid_that_is_not_a_string_is_malformed(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    _, payload, signature = forge(keyring, claims()).split(".")
    header = b64_json({"alg": "EdDSA", "typ": "at+jwt", "kid": 7})
    assert refused(verifier, f"{header}.{payload}.{signature}") is TokenProblem.MALFORMED


def test_a_multibyte_token_is_measured_in_bytes(verifier: TokenVerifier) -> None:
    assert refused(verifier, "\u00e9" * 2049) is TokenProblem.TOO_LARGE  # 4098 bytes


def test_a_header_without_a_kid_is_malformed(keyring: JwtKeyring, verifier: TokenVerifier) -> None:
    token = jwt.encode(
        claims(), keyring.current.private_key, algorithm="EdDSA", headers={"typ": "at+jwt"}
    )
    assert refused(verifier, token) is TokenProblem.MALFORMED


def test_an_unparseable_payload_under_a_valid_header_is_malformed(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    header, _, signature = forge(keyring, claims()).split(".")
    assert refused(verifier, f"{header}.{b64(b'{not json')}.{signature}") in {
        TokenProblem.MALFORMED,
        TokenProblem.SIGNATURE,
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": 7},
        {"sub": ""},
        {"jti": ["a"]},
        {"acct": 1},
        {"roles": "owner"},
        {"roles": [1]},
        {"scope": ["*"]},
        {"amr": "pwd"},
        {"exp": "soon"},
        {"iat": True},
    ],
)
def test_claims_of_the_wrong_type_are_malformed(
    keyring: JwtKeyring, verifier: TokenVerifier, changes: dict[str, Any]
) -> None:
    assert refused(verifier, forge(keyring, claims(**changes))) is TokenProblem.MALFORMED


# -- the error ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"exp": START - 100, "iat": START - 400}, TokenProblem.EXPIRED),
        ({"aud": "secret-audience"}, TokenProblem.AUDIENCE),
    ],
)
def test_an_invalid_token_error_is_a_safe_401_that_hides_the_token(
    keyring: JwtKeyring, verifier: TokenVerifier, changes: dict[str, Any], problem: TokenProblem
) -> None:
    token = forge(keyring, claims(sub="secret-user", **changes))
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    error = caught.value
    assert isinstance(error, Unauthenticated)
    assert error.http_status == 401
    assert error.problem is problem
    for part in (*token.split("."), "secret-user", "secret-audience", ISSUER):
        assert part not in str(error)
    # PyJWT's own message stays out of tracebacks too.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_a_malformed_jwks_is_refused_and_the_known_keys_stay(
    keyring: JwtKeyring, verifier: TokenVerifier
) -> None:
    for bad in ({}, {"keys": "no"}, {"keys": [1]}, {"keys": [{"kty": "OKP", "crv": "Ed25519"}]}):
        with pytest.raises(ValueError, match="JWKS"):
            verifier.update_jwks(bad)
    assert verifier.knows(keyring.current.kid)


def test_keys_of_other_types_in_a_jwks_are_ignored(keyring: JwtKeyring, wall: WallClock) -> None:
    jwks = keyring.jwks()
    jwks["keys"].append({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"})
    jwks["keys"].append({**jwks["keys"][0], "kid": "for-encryption", "use": "enc"})
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, clock=wall)
    assert verifier.kids == (keyring.current.kid,)
