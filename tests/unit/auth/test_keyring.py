"""The key ring: Ed25519 keys by kid, rotation, retirement, JWKS and export."""

from __future__ import annotations

import re

import pytest

from enotime.auth import JwtKeyring, SigningKey, TokenSigner, TokenVerifier
from tests.unit._wall_clock import WallClock

from .conftest import AUDIENCE, ISSUER


def test_a_new_ring_has_one_current_key_with_a_random_url_safe_kid() -> None:
    ring = JwtKeyring()
    assert ring.kids == (ring.current.kid,)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", ring.current.kid)
    assert JwtKeyring().current.kid != ring.current.kid


def test_rotate_makes_a_new_current_key_and_keeps_the_old_one() -> None:
    ring = JwtKeyring()
    old = ring.current.kid
    new = ring.rotate()
    assert ring.current.kid == new != old
    assert ring.kids == (old, new)
    assert old in ring


def test_retire_drops_a_key_but_never_the_current_one() -> None:
    ring = JwtKeyring()
    old = ring.current.kid
    ring.rotate()
    ring.retire(old)
    assert old not in ring
    ring.retire(old)  # retiring twice is harmless
    with pytest.raises(ValueError, match="rotate first"):
        ring.retire(ring.current.kid)


def test_jwks_publishes_public_ed25519_keys_only() -> None:
    ring = JwtKeyring()
    ring.rotate()
    jwks = ring.jwks()
    assert [key["kid"] for key in jwks["keys"]] == list(ring.kids)
    for key in jwks["keys"]:
        assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (key["kty"], key["crv"]) == ("OKP", "Ed25519")
        assert (key["alg"], key["use"]) == ("EdDSA", "sig")


def test_export_and_from_keys_restore_the_same_keys(wall: WallClock) -> None:
    ring = JwtKeyring()
    ring.rotate()
    token = TokenSigner(ring, issuer=ISSUER, audience=AUDIENCE, clock=wall).issue(
        "user", account="acct", roles=["owner"]
    )
    exported = ring.export()
    assert all(len(raw) == 32 for _, raw in exported)

    restored = JwtKeyring.from_keys(exported, current=ring.current.kid)

    assert restored.jwks() == ring.jwks()
    assert restored.current.kid == ring.current.kid
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=restored.jwks(), clock=wall)
    assert verifier.verify(token.token)["sub"] == "user"


@pytest.mark.parametrize(
    ("keys", "current", "problem"),
    [
        ([("a", b"short")], "a", "32-byte"),
        ([("a", bytes(32)), ("a", bytes(32))], "a", "twice"),
        ([("", bytes(32))], "", "kid"),
        ([("a", bytes(32))], "b", "current kid"),
    ],
)
def test_from_keys_refuses_what_it_cannot_trust(
    keys: list[tuple[str, bytes]], current: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        JwtKeyring.from_keys(keys, current=current)


def test_no_private_key_shows_in_a_repr() -> None:
    ring = JwtKeyring()
    key: SigningKey = ring.current
    raw = key.raw_private_bytes()
    for text in (repr(ring), repr(key)):
        assert raw.hex() not in text
        assert "private_key" not in text
