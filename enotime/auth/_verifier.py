"""Verifying access tokens: pinned EdDSA, known kids, required claims, an injectable clock."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from enotime.auth._errors import InvalidToken, TokenProblem
from enotime.auth._revocations import RevocationList
from enotime.auth._tokens import ACCESS_TOKEN_TYPE, ALGORITHM

__all__ = ["REQUIRED_CLAIMS", "TokenVerifier"]

log = logging.getLogger("enotime.auth")

REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "aud", "jti", "sub", "acct")
"""Claims every access token must carry (``nbf`` is checked when present)."""

_ACCEPTED_TYPES: Final = frozenset({ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}"})

# PyJWT's exceptions, most specific first (InvalidSignatureError is a DecodeError,
# and every one of them is an InvalidTokenError).
_PROBLEMS: Final[tuple[tuple[type[Exception], TokenProblem], ...]] = (
    (jwt.InvalidSignatureError, TokenProblem.SIGNATURE),
    (jwt.ExpiredSignatureError, TokenProblem.EXPIRED),
    (jwt.ImmatureSignatureError, TokenProblem.NOT_YET_VALID),
    (jwt.InvalidAudienceError, TokenProblem.AUDIENCE),
    (jwt.InvalidIssuerError, TokenProblem.ISSUER),
    (jwt.MissingRequiredClaimError, TokenProblem.MISSING_CLAIM),
    (jwt.InvalidAlgorithmError, TokenProblem.ALGORITHM),
    (jwt.InvalidKeyError, TokenProblem.ALGORITHM),
    (jwt.DecodeError, TokenProblem.MALFORMED),
    (jwt.InvalidIssuedAtError, TokenProblem.MALFORMED),
    (jwt.PyJWTError, TokenProblem.MALFORMED),
)


def problem_of(error: Exception) -> TokenProblem:
    """The :class:`TokenProblem` a PyJWT exception stands for."""
    for error_type, problem in _PROBLEMS:
        if isinstance(error, error_type):
            return problem
    return TokenProblem.MALFORMED


def _public_keys(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a JWK Set, by kid; other keys are skipped.

    Raises:
        ValueError: ``jwks`` is not a JWK Set, or an Ed25519 key is unusable.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError('a JWKS is an object with a "keys" list')
    found: dict[str, Ed25519PublicKey] = {}
    for entry in keys:
        if not isinstance(entry, Mapping):
            raise ValueError("every JWKS entry must be an object")
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("every Ed25519 JWKS entry needs a kid")
        try:
            key = OKPAlgorithm.from_jwk(dict(entry))
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise ValueError(f"JWKS key {kid!r} is unusable: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"JWKS key {kid!r} must be a public Ed25519 key")
        found[kid] = key
    return found


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class TokenVerifier:
    """Checks access tokens against a JWKS; what passes is a claims dict.

    In order: the size (before parsing anything), the header (``alg`` must be
    EdDSA, ``typ`` at+jwt, ``kid`` one of the known keys), then PyJWT verifies
    the signature, ``iss``, ``aud`` and the required claims, then the times
    against the injected clock with ``leeway``, the types of the claims, and
    finally the revocations. Any failure raises :class:`InvalidToken` with a
    :class:`TokenProblem`; ``unknown_kid`` tells the caller to reload the JWKS
    once (keys rotate) and try again.

    Args:
        issuer: The expected ``iss``.
        audience: The expected ``aud`` (a token must name exactly this one).
        jwks: The issuer's public keys (a JWK Set); :meth:`update_jwks` replaces them.
        leeway: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
        max_token_bytes: Longer tokens are refused unread (``too_large``).
        revocations: Revoked tokens and subjects, consulted last.
        clock: Seconds since the epoch (inject a fake one in tests).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: Mapping[str, Any] | None = None,
        leeway: float = 5.0,
        max_token_bytes: int = 4096,
        revocations: RevocationList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience must be non-empty")
        if not (math.isfinite(leeway) and leeway >= 0):
            raise ValueError(f"leeway must be a non-negative number of seconds, not {leeway!r}")
        if max_token_bytes <= 0:
            raise ValueError("max_token_bytes must be positive")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_token_bytes = max_token_bytes
        self.revocations = revocations
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        if jwks is not None:
            self.update_jwks(jwks)

    def update_jwks(self, jwks: Mapping[str, Any]) -> None:
        """Replace the known keys with the Ed25519 signing keys of ``jwks``.

        Keys of other types are ignored; a kid no longer published stops
        verifying (that is how a retired key is refused).

        Raises:
            ValueError: ``jwks`` is not a usable JWK Set (the old keys are kept).
        """
        self._keys = _public_keys(jwks)

    def knows(self, kid: str) -> bool:
        """True if a token signed under ``kid`` can be verified now."""
        return kid in self._keys

    @property
    def kids(self) -> tuple[str, ...]:
        """The kids of the keys this verifier accepts."""
        return tuple(self._keys)

    def verify(self, token: str | bytes) -> dict[str, Any]:
        """The verified claims of ``token``.

        Raises:
            InvalidToken: The token is refused; ``.problem`` says why.
        """
        key = self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "strict_aud": True,
                    # Times are checked below against the injected clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            problem = problem_of(exc)
            log.debug("access token refused (%s): %s", problem, exc)
            raise InvalidToken(problem) from None
        self._check_times(claims)
        self._check_types(claims)
        if self.revocations is not None and self.revocations.is_revoked(claims):
            raise InvalidToken(TokenProblem.REVOKED)
        return claims

    def _key_for(self, token: str | bytes) -> Ed25519PublicKey:
        if not isinstance(token, str | bytes):
            raise InvalidToken(TokenProblem.MALFORMED)
        # A str is never shorter in UTF-8 than in characters: a long one is refused unencoded.
        if len(token) > self.max_token_bytes or (
            isinstance(token, str) and len(token.encode("utf-8", "replace")) > self.max_token_bytes
        ):
            raise InvalidToken(TokenProblem.TOO_LARGE)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            log.debug("access token refused (malformed header): %s", exc)
            raise InvalidToken(TokenProblem.MALFORMED) from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(TokenProblem.ALGORITHM)
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            raise InvalidToken(TokenProblem.TOKEN_TYPE)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken(TokenProblem.MALFORMED, "the access token names no signing key")
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(TokenProblem.UNKNOWN_KID)
        return key

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
        if not (_number(exp) and _number(iat) and _number(nbf)):
            raise InvalidToken(TokenProblem.MALFORMED)
        now = self._clock()
        if exp <= now - self.leeway:
            raise InvalidToken(TokenProblem.EXPIRED)
        if nbf > now + self.leeway or iat > now + self.leeway:
            raise InvalidToken(TokenProblem.NOT_YET_VALID)

    @staticmethod
    def _check_types(claims: Mapping[str, Any]) -> None:
        strings = (claims["sub"], claims["jti"], claims["acct"])
        roles = claims.get("roles", [])
        scope = claims.get("scope", "")
        amr = claims.get("amr", [])
        if (
            not all(isinstance(value, str) for value in strings)
            or not claims["sub"]
            or not claims["jti"]
            or not isinstance(roles, list)
            or not all(isinstance(role, str) for role in roles)
            or not isinstance(scope, str)
            or not isinstance(amr, list)
        ):
            raise InvalidToken(TokenProblem.MALFORMED, "the access token has a malformed claim")
