"""Who is calling: the verified claims the front passed along with the message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from enotime._context import current_context
from enotime.auth import Forbidden, Unauthenticated

__all__ = ["caller_claims", "caller_subject", "check_self_scope"]


def caller_claims() -> Mapping[str, Any]:
    """The claims of the message being handled; ``Unauthenticated`` without a subject."""
    context = current_context()
    claims = context.claims if context is not None else None
    if not claims or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthenticated("authentication is required")
    return claims


def caller_subject() -> str:
    """The caller's user id (the token's ``sub``)."""
    subject: str = caller_claims()["sub"]
    return subject


def check_self_scope(permission: str, wildcard: str) -> None:
    """Refuse unless the caller's token scope covers ``permission``, ``wildcard`` or ``*``.

    For the flows a caller runs on their own behalf: they depend on no role,
    only on an authenticated caller whose token was issued for them.
    """
    scope = caller_claims().get("scope")
    if not isinstance(scope, str) or not any(
        s in (permission, wildcard, "*") for s in scope.split()
    ):
        raise Forbidden(f"the access token's scope does not cover {permission}")
