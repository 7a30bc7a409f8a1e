"""What the login actors of a node count: each flow by a bounded outcome, never a user.

Statistics first, metrics second: plain ints kept per node, which
``enotime.metrics`` reads at scrape time through :func:`login_statistics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from enotime._per_node import PerNode

if TYPE_CHECKING:
    from enotime._node import Node

__all__ = [
    "LOGIN_OUTCOMES",
    "MFA_EVENTS",
    "PASSWORD_RESET_STAGES",
    "REFRESH_OUTCOMES",
    "REGISTRATION_OUTCOMES",
    "LoginCounts",
    "LoginStatistics",
    "login_statistics",
    "node_counts",
]

REGISTRATION_OUTCOMES: Final = ("accepted", "duplicate", "refused", "unavailable")
"""What a registration ended in: a new user, an address that had one (its owner is
mailed), refused (closed, invalid address, weak password), or not done (an outage)."""
LOGIN_OUTCOMES: Final = (
    "success",
    "mfa_required",
    "invalid_credentials",
    "invalid_mfa_code",
    "invalid_challenge",
    "locked",
    "unverified",
    "unavailable",
)
"""What a login attempt (``Login``, or its second step ``LoginMfa``) ended in."""
MFA_EVENTS: Final = (
    "enrolled",
    "confirmed",
    "verified",
    "failed",
    "replayed",
    "recovery_used",
    "disabled",
)
"""MFA events: a TOTP code accepted (``verified``) or refused (``failed``, or ``replayed``:
its time step was used already), a recovery code spent, an enrolment made or confirmed,
MFA disabled."""
REFRESH_OUTCOMES: Final = ("rotated", "reuse_detected", "invalid", "unavailable")
"""What a presented refresh token ended in (``Refresh``, and ``SwitchAccount`` with one)."""
PASSWORD_RESET_STAGES: Final = (
    "requested",
    "mailed",
    "completed",
    "invalid_token",
    "weak_password",
)
"""Password resets: asked for, a link mailed (the address had an account), the password
changed, a link refused (unknown, used or expired), a new password refused by the policy."""


@dataclass(frozen=True, slots=True)
class LoginStatistics:
    """What a node's login actors counted, for inspection and metrics.

    Attributes:
        registrations: By :data:`REGISTRATION_OUTCOMES`.
        logins: By :data:`LOGIN_OUTCOMES`.
        mfa_events: By :data:`MFA_EVENTS`.
        tokens_issued: Access tokens signed (login, refresh, account switch).
        refreshes: By :data:`REFRESH_OUTCOMES`.
        password_resets: By :data:`PASSWORD_RESET_STAGES`.
    """

    registrations: Mapping[str, int]
    logins: Mapping[str, int]
    mfa_events: Mapping[str, int]
    tokens_issued: int
    refreshes: Mapping[str, int]
    password_resets: Mapping[str, int]


class LoginCounts:
    """Running counts of one node's login actors; every label exists, at 0, from the start.

    A label that is not declared raises ``KeyError``: a typo fails loudly.
    """

    __slots__ = (
        "__weakref__",
        "logins",
        "mfa_events",
        "password_resets",
        "refreshes",
        "registrations",
        "tokens_issued",
    )

    def __init__(self) -> None:
        self.registrations = dict.fromkeys(REGISTRATION_OUTCOMES, 0)
        self.logins = dict.fromkeys(LOGIN_OUTCOMES, 0)
        self.mfa_events = dict.fromkeys(MFA_EVENTS, 0)
        self.tokens_issued = 0
        self.refreshes = dict.fromkeys(REFRESH_OUTCOMES, 0)
        self.password_resets = dict.fromkeys(PASSWORD_RESET_STAGES, 0)

    def snapshot(self) -> LoginStatistics:
        """A copy of the counts as they are now."""
        return LoginStatistics(
            registrations=dict(self.registrations),
            logins=dict(self.logins),
            mfa_events=dict(self.mfa_events),
            tokens_issued=self.tokens_issued,
            refreshes=dict(self.refreshes),
            password_resets=dict(self.password_resets),
        )


_counts: PerNode[LoginCounts] = PerNode(LoginCounts)


def node_counts(node: Node) -> LoginCounts:
    """The running counts of ``node``'s login actors, made on first use (by a start)."""
    return _counts.of(node)


def login_statistics(node: Node) -> LoginStatistics | None:
    """What the login actors of ``node`` counted; None if none has started there."""
    counts = _counts.get(node)
    return None if counts is None else counts.snapshot()
