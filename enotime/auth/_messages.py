"""Messages between the login actor (which answers them) and the fronts (which send them).

They live here, not in the login package, so that a front needs only
:mod:`enotime.auth`. All may cross the wire (registered with
:func:`~enotime.transport.message`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enotime.messages import Request
from enotime.transport import message

__all__ = ["Jwks", "Revocations", "RevocationsChanged"]


@message("enotime.auth.Jwks", version=1)
@dataclass(frozen=True)
class Jwks(Request[dict[str, Any]]):
    """Ask the login actor for its public keys; the reply is a JWK Set (``JwtKeyring.jwks()``)."""


@message("enotime.auth.Revocations", version=1)
@dataclass(frozen=True)
class Revocations(Request[dict[str, Any]]):
    """Ask the login actor for its revocations; the reply is a ``RevocationList.snapshot()``."""


@message("enotime.auth.RevocationsChanged", version=1)
@dataclass(frozen=True)
class RevocationsChanged:
    """Cast by the login actor to each front after a logout, reset or token reuse.

    The front merges ``snapshot`` (a ``RevocationList.snapshot()``) into its own list.
    """

    snapshot: dict[str, Any]
