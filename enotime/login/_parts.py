"""What the login flows share: made by the login actor, which owns every part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from enotime.auth import PasswordHasher
from enotime.login._collaborators import Collaborators
from enotime.login._config import LoginConfig
from enotime.login._directory import UserDirectory
from enotime.login._keys import SigningKeys
from enotime.login._lockout import Lockout
from enotime.login._revocation import RevocationPublisher
from enotime.login._statistics import LoginCounts
from enotime.login._totp import Totp

__all__ = ["LoginParts"]


@dataclass(eq=False, slots=True)
class LoginParts:
    """The configuration, tools, collaborators and state of one login actor.

    Attributes:
        config: Flows switched on, limits, actor and key names.
        clock: Wall-clock seconds since the epoch, for every expiry and token.
        hasher: The argon2id password hasher.
        totp: TOTP settings and clock.
        actors: The store, crypto, mailer, fronts, and the login actor itself.
        users: The users in the store.
        lockout: Failures not yet written back.
        keys: The signing keys and the token signer.
        revocations: The revocation list and its publication to the fronts.
        counts: Where the flows count their outcomes: the node's, once the actor started.
    """

    config: LoginConfig
    clock: Callable[[], float]
    hasher: PasswordHasher
    totp: Totp
    actors: Collaborators
    users: UserDirectory
    lockout: Lockout
    keys: SigningKeys
    revocations: RevocationPublisher
    counts: LoginCounts
