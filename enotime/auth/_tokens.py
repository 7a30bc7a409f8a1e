"""Issuing access tokens: short-lived EdDSA JWTs (RFC 9068 ``at+jwt``), signed with PyJWT."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from enotime.auth._keyring import JwtKeyring

__all__ = ["ACCESS_TOKEN_TYPE", "ALGORITHM", "IssuedToken", "TokenSigner"]

ACCESS_TOKEN_TYPE: Final = "at+jwt"
"""The JWT header ``typ`` of access tokens (RFC 9068)."""

ALGORITHM: Final = "EdDSA"
"""The only signature algorithm ENoTime issues and accepts (Ed25519, RFC 8037)."""

REGISTERED_CLAIMS: Final = frozenset(
    {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "acct", "roles", "scope", "amr"}
)
"""Claims the signer sets itself; ``extra`` may not override them."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed access token and what the issuer needs to remember of it.

    Attributes:
        token: The compact JWS to hand to the client.
        jti: Its unique id (what :meth:`RevocationList.revoke` takes).
        expires_at: Its ``exp``, in seconds since the epoch.
        claims: The claims it carries.
    """

    token: str
    jti: str
    expires_at: float
    claims: dict[str, Any]

    def __repr__(self) -> str:  # the token is a bearer credential: keep it out of logs
        return f"IssuedToken(jti={self.jti!r}, expires_at={self.expires_at!r}, token=<redacted>)"


class TokenSigner:
    """Signs access tokens with the keyring's current key.

    Times (``iat``, ``nbf``, ``exp``) are NumericDates with sub-second
    precision (RFC 7519 allows it), so a token issued right after a
    :meth:`RevocationList.revoke_subject` is not mistaken for one before it.

    Args:
        keyring: The keys; the current one signs, its kid goes in the header.
        issuer: The ``iss`` claim.
        audience: The ``aud`` claim (one string).
        access_ttl: Lifetime of a token, in seconds.
        clock: Seconds since the epoch (inject a fake one in tests).
    """

    def __init__(
        self,
        keyring: JwtKeyring,
        *,
        issuer: str,
        audience: str,
        access_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience must be non-empty")
        if not (math.isfinite(access_ttl) and access_ttl > 0):
            raise ValueError(f"access_ttl must be a positive number of seconds, not {access_ttl!r}")
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self._clock = clock

    def issue(
        self,
        subject: str,
        *,
        account: str,
        roles: Iterable[str],
        scope: str = "*",
        amr: Iterable[str] = ("pwd",),
        extra: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        """Sign an access token for ``subject`` acting in ``account`` with ``roles``.

        Args:
            subject: The user id (``sub``).
            account: The account the token acts in (``acct``).
            roles: The user's roles in that account (``roles``).
            scope: Space-separated scopes (``scope``); ``*`` is everything the roles grant.
            amr: How the user authenticated (RFC 8176: ``pwd``, ``otp``, ``mfa``...).
            extra: More claims; they may not override the ones above.

        Raises:
            ValueError: An empty subject or scope, a role that is not a non-empty
                string, or ``extra`` naming a registered claim.
        """
        if not isinstance(subject, str) or not subject:
            raise ValueError("the subject must be a non-empty string")
        if not isinstance(account, str):
            raise ValueError("the account must be a string")
        if isinstance(roles, str) or isinstance(amr, str):
            raise ValueError("roles and amr are lists of strings, not one string")
        role_list = list(roles)
        if not all(isinstance(role, str) and role for role in role_list):
            raise ValueError("roles must be non-empty strings")
        if not isinstance(scope, str) or not scope.split():
            raise ValueError("the scope must be a non-empty, space-separated string")
        clashes = REGISTERED_CLAIMS.intersection(extra or {})
        if clashes:
            raise ValueError(f"extra claims may not override {sorted(clashes)}")
        now = self._clock()
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl,
            "jti": jti,
            "acct": account,
            "roles": role_list,
            "scope": " ".join(scope.split()),
            "amr": list(amr),
            **(extra or {}),
        }
        key = self.keyring.current
        token = jwt.encode(
            claims,
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE},
        )
        return IssuedToken(token=token, jti=jti, expires_at=claims["exp"], claims=claims)
