"""The front's key cache and bearer check: refreshed sparingly, verified tokens remembered."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

from enotime import Actor, ActorRef, Node, handler
from enotime.auth import (
    InvalidToken,
    Jwks,
    JwtKeyring,
    RevocationList,
    TokenProblem,
    TokenSigner,
    TokenVerifier,
    Unauthenticated,
)
from enotime.edge._bearer import BearerAuthentication
from enotime.edge._jwks import JwksCache
from enotime.messages import Request
from enotime.testing import ManualClock

ISSUER, AUDIENCE = "https://login.test", "api"


@dataclass(frozen=True)
class Asked(Request[int]):
    """How many times was the JWKS asked for?"""


class KeySource(Actor):
    """Answers ``Jwks()`` from a keyring, and counts the questions."""

    def __init__(self, keyring: JwtKeyring) -> None:
        self.keyring = keyring
        self.asked = 0

    @handler
    def jwks(self, message: Jwks) -> dict[str, Any]:
        self.asked += 1
        return self.keyring.jwks()

    @handler
    def count(self, message: Asked) -> int:
        return self.asked


class CountingVerifier(TokenVerifier):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified = 0

    def verify(self, token: str | bytes) -> dict[str, Any]:
        self.verified += 1
        return super().verify(token)


class Setup:
    def __init__(self, node: Node, clock: ManualClock) -> None:
        self.node = node
        self.keyring = JwtKeyring()
        self.revocations = RevocationList()
        self.now = time.time()
        self.verifier = CountingVerifier(
            issuer=ISSUER, audience=AUDIENCE, revocations=self.revocations, clock=self.wall
        )
        self.keys = JwksCache(
            self.verifier, node=node, source="login", floor=10.0, clock=clock.monotonic
        )
        self.auth = BearerAuthentication(self.verifier, self.keys, cache_size=2, clock=self.wall)
        self.signer = TokenSigner(self.keyring, issuer=ISSUER, audience=AUDIENCE, clock=self.wall)

    def wall(self) -> float:
        return self.now

    async def start_source(self) -> ActorRef[KeySource]:
        return await self.node.spawn(KeySource, self.keyring, name="login")

    def bearer(self, sub: str = "alice") -> str:
        return "Bearer " + self.signer.issue(sub, account="acme", roles=["owner"]).token

    async def remembered_bearer(self) -> str:
        """With the key source up and the keys loaded, a header authenticated once already."""
        await self.start_source()
        await self.keys.load()
        header = self.bearer()
        await self.auth.authenticate(header)
        return header


@pytest.fixture
def setup(node: Node, clock: ManualClock) -> Setup:
    return Setup(node, clock)


async def test_without_a_source_the_cache_serves_an_empty_key_set(setup: Setup) -> None:
    assert await setup.keys.load() is False
    assert setup.keys.loaded is False
    assert setup.keys.document == b'{"keys": []}'


async def test_load_installs_the_keys_and_their_document(setup: Setup) -> None:
    await setup.start_source()

    assert await setup.keys.load() is True
    assert setup.verifier.kids == setup.keyring.kids
    assert setup.keys.generation == 1


async def test_refreshes_are_spaced_by_the_floor_but_load_does_not_count(
    setup: Setup, clock: ManualClock
) -> None:
    source = await setup.start_source()
    await setup.keys.load()

    assert await setup.keys.refresh() is True  # right after start: allowed
    assert await setup.keys.refresh() is False
    clock.advance(9.9)
    assert await setup.keys.refresh() is False
    clock.advance(0.2)
    assert await setup.keys.refresh() is True
    assert await source.call(Asked()) == 3


async def test_concurrent_refreshes_share_one_fetch(setup: Setup) -> None:
    source = await setup.start_source()

    waiting = [asyncio.ensure_future(setup.keys.refresh()) for _ in range(5)]

    assert await asyncio.gather(*waiting) == [True] * 5
    assert await source.call(Asked()) == 1


async def test_a_missing_or_malformed_header_is_unauthenticated(setup: Setup) -> None:
    for header in (None, "", "Bearer", "Bearer   ", "Basic abc", "bearer"):
        with pytest.raises(Unauthenticated) as refused:
            await setup.auth.authenticate(header)
        assert not isinstance(refused.value, InvalidToken)


async def test_an_unknown_kid_refreshes_the_keys_once_then_verifies(setup: Setup) -> None:
    await setup.start_source()

    claims = await setup.auth.authenticate(setup.bearer())  # the front never loaded the keys

    assert claims["sub"] == "alice"
    assert setup.verifier.verified == 2


async def test_a_verified_token_is_remembered_and_not_verified_again(setup: Setup) -> None:
    await setup.start_source()
    await setup.keys.load()
    header = setup.bearer()

    first = await setup.auth.authenticate(header)
    second = await setup.auth.authenticate(header)

    assert first is second
    assert setup.verifier.verified == 1


async def test_a_remembered_token_still_expires(setup: Setup) -> None:
    header = await setup.remembered_bearer()

    setup.now += 300 + 5 + 1  # past exp and the verifier's leeway

    with pytest.raises(InvalidToken) as refused:
        await setup.auth.authenticate(header)
    assert refused.value.problem is TokenProblem.EXPIRED


async def test_a_remembered_token_is_still_checked_for_revocation(setup: Setup) -> None:
    header = await setup.remembered_bearer()

    setup.revocations.revoke_subject("alice", setup.now + 1)

    with pytest.raises(InvalidToken) as refused:
        await setup.auth.authenticate(header)
    assert refused.value.problem is TokenProblem.REVOKED


async def test_new_keys_forget_every_remembered_token(setup: Setup) -> None:
    header = await setup.remembered_bearer()
    retired = setup.keyring.current.kid
    setup.keyring.rotate()
    setup.keyring.retire(retired)
    await setup.keys.load()

    with pytest.raises(InvalidToken) as refused:
        await setup.auth.authenticate(header)
    assert refused.value.problem is TokenProblem.UNKNOWN_KID


async def test_the_memory_of_tokens_is_bounded(setup: Setup) -> None:
    await setup.start_source()
    await setup.keys.load()
    headers = [setup.bearer(f"user-{index}") for index in range(3)]
    for header in headers:
        await setup.auth.authenticate(header)

    await setup.auth.authenticate(headers[0])  # forgotten: the cache holds two

    assert setup.verifier.verified == 4
