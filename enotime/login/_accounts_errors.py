"""The errors of accounts and memberships, documented by contrast.

All are :class:`~enotime.errors.Refused`: raised in a handler they answer the
caller and the actor keeps running. ``http_status`` is what the front answers;
every message is safe to show to the caller. Refusals of *permission* are
``enotime.auth.Forbidden`` (403), not one of these.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from enotime.errors import Refused

__all__ = [
    "AccountError",
    "AccountFlowDisabled",
    "AccountsUnavailable",
    "AlreadyMember",
    "InvalidAccountName",
    "InvalidInvitation",
    "InvalidInviteeEmail",
    "InvalidRole",
    "InvitationProblem",
    "LastOwner",
    "NotAMember",
    "UnknownAccount",
]


class AccountError(Refused):
    """Root of the accounts' refusals; catch it to handle any of them."""

    http_status: ClassVar[int] = 400
    title: ClassVar[str] = "Account request refused"


class AccountFlowDisabled(AccountError):
    """The flow asked for (creating accounts, invitations) is switched off in this system.

    The accounts' twin of the login actor's ``FlowDisabled``: both 403, "Not
    available". Not ``Forbidden``, which is about the caller's permissions.
    """

    http_status: ClassVar[int] = 403
    title: ClassVar[str] = "Not available"


class InvalidAccountName(AccountError):
    """An account name is empty, too long, or holds control characters. Nothing was written."""

    title: ClassVar[str] = "Invalid account name"


class InvalidRole(AccountError):
    """A role that is not one of ``ROLES``. Not `LastOwner`, which is a valid role refused."""

    title: ClassVar[str] = "Invalid role"


class UnknownAccount(AccountError):
    """The account named does not exist (or was deleted).

    Not `NotAMember`: the account is missing, not the person.
    """

    http_status: ClassVar[int] = 404
    title: ClassVar[str] = "Unknown account"


class NotAMember(AccountError):
    """The user named is not a member of the account (to change or remove).

    Not ``Forbidden``: this is about the *target* user of a request; a caller
    who is no longer a member is refused with ``Forbidden``.
    """

    http_status: ClassVar[int] = 404
    title: ClassVar[str] = "Not a member"


class AlreadyMember(AccountError):
    """The caller accepting an invitation is already a member; the invitation stays unused."""

    http_status: ClassVar[int] = 409
    title: ClassVar[str] = "Already a member"


class LastOwner(AccountError):
    """The change would leave the account without an owner (demote or remove the last one).

    Promote another member to owner first. Not ``Forbidden``: the caller may
    make such changes in general, just not this one.
    """

    http_status: ClassVar[int] = 409
    title: ClassVar[str] = "Last owner"


class InvitationProblem(StrEnum):
    """Why an invitation token was refused."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class InvalidInvitation(AccountError):
    """An invitation token that is unknown, already used or expired.

    ``problem`` says which. Tokens are single-use: a second accept of the same
    token, even by the same user, is refused with ``used``.
    """

    title: ClassVar[str] = "Invalid invitation"

    def __init__(self, problem: InvitationProblem) -> None:
        detail = {
            InvitationProblem.UNKNOWN: "this invitation is not valid",
            InvitationProblem.USED: "this invitation was already used",
            InvitationProblem.EXPIRED: "this invitation has expired",
        }[problem]
        super().__init__(detail)
        self.problem = problem

    def __reduce__(self) -> tuple[type[InvalidInvitation], tuple[InvitationProblem]]:
        return type(self), (self.problem,)


class InvalidInviteeEmail(AccountError):
    """The address to invite is not a valid email address. Nothing was written or sent."""

    title: ClassVar[str] = "Invalid email address"


class AccountsUnavailable(AccountError):
    """The store, crypto or mailer actor behind the accounts actor is down, slow or sealed.

    Retry later. The cause is logged, not shown. Not `UnknownAccount`: nothing
    about the request is implied.
    """

    http_status: ClassVar[int] = 503
    title: ClassVar[str] = "Accounts unavailable"

    def __init__(self) -> None:
        super().__init__("the accounts service is unavailable: try again later")

    def __reduce__(self) -> tuple[type[AccountsUnavailable], tuple[()]]:
        return type(self), ()
