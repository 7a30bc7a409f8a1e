"""Bearer authentication: the ``Authorization`` header to verified claims, or a refusal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from enotime.auth import InvalidToken, TokenProblem, TokenVerifier, Unauthenticated
from enotime.edge._jwks import JwksCache

__all__ = ["BearerAuthentication"]


class BearerAuthentication:
    """Verifies ``Authorization: Bearer <jwt>`` with a :class:`~enotime.auth.TokenVerifier`.

    A token signed under a kid the verifier does not know makes the JWKS
    cache refresh (within its floor) and the token is verified once more:
    that is how a rotated-in key is picked up.

    Tokens the verifier accepted are remembered (up to ``cache_size``, keyed
    by the exact token text) so a client's next requests with the same token
    skip the signature check — the most expensive step of a request. What
    can change with time is checked again on every use: ``exp`` (with the
    verifier's leeway) and the revocations; a new JWKS (keys retired or
    rotated) forgets every remembered token. A token that fails the
    re-check goes through the full verifier, which names the problem.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        keys: JwksCache,
        *,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.keys = keys
        self.cache_size = cache_size
        self._clock = clock
        self._verified: dict[str, dict[str, Any]] = {}
        self._generation = keys.generation

    async def authenticate(self, header: str | None) -> dict[str, Any]:
        """The verified claims of the request's bearer token (share them read-only).

        Raises:
            Unauthenticated: No ``Authorization`` header, or not the Bearer scheme.
            InvalidToken: The token is refused; ``problem`` says why.
        """
        if header is None:
            raise Unauthenticated("this endpoint needs an access token (Authorization: Bearer)")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <access token>'")
        verified = self._verified
        if self._generation != self.keys.generation:
            verified.clear()
            self._generation = self.keys.generation
        claims = verified.get(token)
        if claims is not None:
            if self._still_valid(claims):
                return claims
            del verified[token]
        claims = await self._verify(token)
        if self.cache_size:
            if len(verified) >= self.cache_size:
                del verified[next(iter(verified))]
            verified[token] = claims
        return claims

    def _still_valid(self, claims: dict[str, Any]) -> bool:
        verifier = self.verifier
        if claims["exp"] <= self._clock() - verifier.leeway:
            return False
        revocations = verifier.revocations
        return revocations is None or not revocations.is_revoked(claims)

    async def _verify(self, token: str) -> dict[str, Any]:
        verifier = self.verifier
        try:
            return verifier.verify(token)
        except InvalidToken as error:
            if error.problem is not TokenProblem.UNKNOWN_KID or not await self.keys.refresh():
                raise
        return verifier.verify(token)
