"""Refusals of the edge: who is calling is unknown, or may not do this.

Both are :class:`~enotime.errors.Refused`, so a handler that raises one answers
its caller with it and keeps running; ``http_status`` tells the front which
status to answer. Their messages are safe to show a client.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Final

from enotime.errors import Refused

__all__ = ["Forbidden", "InvalidToken", "TokenProblem", "Unauthenticated"]


class Unauthenticated(Refused):
    """The caller is not known: no verified claims, or no subject in them.

    Answered with 401. Not :class:`Forbidden`, which means the caller is known
    and lacks the permission.
    """

    http_status: ClassVar[int] = 401
    title: ClassVar[str] = "Unauthenticated"


class Forbidden(Refused):
    """The caller is known but may not do this (permission, scope or account).

    Answered with 403. Not :class:`Unauthenticated`, which means the caller is
    not known at all.
    """

    http_status: ClassVar[int] = 403
    title: ClassVar[str] = "Forbidden"


class TokenProblem(enum.StrEnum):
    """Why an access token was refused; the front may act on some (``unknown_kid``)."""

    MALFORMED = "malformed"
    """Not a compact JWS, bad JSON or base64, or a claim of the wrong type."""
    TOO_LARGE = "too_large"
    """Longer than the verifier's ``max_token_bytes``; refused before parsing."""
    ALGORITHM = "algorithm"
    """The header names another algorithm than EdDSA (``none``, HS256, ...)."""
    UNKNOWN_KID = "unknown_kid"
    """Signed with a key the verifier does not know: refresh the JWKS once and retry."""
    SIGNATURE = "signature"
    """The signature does not match the header and payload."""
    EXPIRED = "expired"
    """``exp`` has passed (beyond the leeway)."""
    NOT_YET_VALID = "not_yet_valid"
    """``nbf`` or ``iat`` lies in the future (beyond the leeway)."""
    AUDIENCE = "audience"
    """``aud`` is not this verifier's audience."""
    ISSUER = "issuer"
    """``iss`` is not this verifier's issuer."""
    MISSING_CLAIM = "missing_claim"
    """A required claim (exp, iat, iss, aud, jti, sub, acct) is absent."""
    TOKEN_TYPE = "token_type"
    """The header ``typ`` is not ``at+jwt``: not an access token."""
    REVOKED = "revoked"
    """The token, or every token of its subject issued before a time, was revoked."""


_MESSAGES: Final[dict[TokenProblem, str]] = {
    TokenProblem.MALFORMED: "the access token is malformed",
    TokenProblem.TOO_LARGE: "the access token is too large",
    TokenProblem.ALGORITHM: "the access token uses an algorithm that is not accepted",
    TokenProblem.UNKNOWN_KID: "the access token is signed with an unknown key",
    TokenProblem.SIGNATURE: "the access token's signature is invalid",
    TokenProblem.EXPIRED: "the access token has expired",
    TokenProblem.NOT_YET_VALID: "the access token is not valid yet",
    TokenProblem.AUDIENCE: "the access token is not meant for this audience",
    TokenProblem.ISSUER: "the access token comes from an unknown issuer",
    TokenProblem.MISSING_CLAIM: "the access token lacks a required claim",
    TokenProblem.TOKEN_TYPE: "the token is not an access token",
    TokenProblem.REVOKED: "the access token has been revoked",
}


class InvalidToken(Unauthenticated):
    """An access token was refused by :class:`~enotime.auth.TokenVerifier`.

    ``problem`` says why. The message is a fixed sentence per problem (never
    the token or its contents), so it is safe to show; the detail a developer
    needs goes to the debug log. Answered with 401, like every
    :class:`Unauthenticated`.
    """

    def __init__(self, problem: TokenProblem, message: str | None = None) -> None:
        super().__init__(message or _MESSAGES[problem])
        self.problem = problem

    def __reduce__(self) -> tuple[type[InvalidToken], tuple[TokenProblem, str]]:
        return type(self), (self.problem, str(self))
