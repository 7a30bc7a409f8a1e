"""Fixtures for the auth tests: a hand-moved wall clock, a key ring, a signer and a verifier."""

from __future__ import annotations

import pytest

from enotime.auth import JwtKeyring, RevocationList, TokenSigner, TokenVerifier
from tests.unit._wall_clock import WallClock

ISSUER = "https://login.test"
AUDIENCE = "enotime-api"


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def keyring() -> JwtKeyring:
    return JwtKeyring()


@pytest.fixture
def revocations(wall: WallClock) -> RevocationList:
    return RevocationList(clock=wall)


@pytest.fixture
def signer(keyring: JwtKeyring, wall: WallClock) -> TokenSigner:
    return TokenSigner(keyring, issuer=ISSUER, audience=AUDIENCE, access_ttl=300.0, clock=wall)


@pytest.fixture
def verifier(keyring: JwtKeyring, revocations: RevocationList, wall: WallClock) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks=keyring.jwks(),
        revocations=revocations,
        clock=wall,
    )
