"""What a front asks the login actor for at start -- the JWKS and the revocations -- served."""

from __future__ import annotations

from typing import Any

from enotime import Actor, handler
from enotime.auth import Jwks, JwtKeyring, RevocationList, Revocations


class LoginStandIn(Actor):
    """A test double of the login actor: it answers ``Jwks()`` and ``Revocations()``.

    The front fetches its keys and revocations from the actor registered
    under ``EdgeConfig.jwks_source``; this stand-in serves a keyring and a
    revocation list the tests control, and counts the JWKS fetches.
    """

    def __init__(self, keyring: JwtKeyring, revocations: RevocationList) -> None:
        self.keyring = keyring
        self.revocations = revocations
        self.jwks_fetches = 0

    @handler
    def jwks(self, message: Jwks) -> dict[str, Any]:
        self.jwks_fetches += 1
        return self.keyring.jwks()

    @handler
    def revocation_snapshot(self, message: Revocations) -> dict[str, Any]:
        return self.revocations.snapshot()
