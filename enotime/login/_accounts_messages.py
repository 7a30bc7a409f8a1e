"""The accounts actor's messages and replies.

Every message that acts on one account names it in a field called
``account``: the worker base class refuses it unless it equals the token's
``acct`` claim, so a token of account A can never act on account B. All are
frozen dataclasses registered for the wire (tags ``enotime.accounts.*``), so
they may also reach an accounts actor on another node.
"""

from __future__ import annotations

from dataclasses import dataclass

from enotime.messages import Request
from enotime.transport import message

__all__ = [
    "AcceptInvite",
    "AccountInfo",
    "AccountList",
    "ChangeRole",
    "CreateAccount",
    "Invitation",
    "Invite",
    "ListMembers",
    "ListMyAccounts",
    "Member",
    "MemberList",
    "RemoveMember",
]


# -- replies ------------------------------------------------------------------------------


@message("enotime.accounts.AccountInfo", version=1)
@dataclass(frozen=True)
class AccountInfo:
    """An account as one of its members sees it: its id, its name and their role in it."""

    account: str
    name: str
    role: str


@message("enotime.accounts.AccountList", version=1)
@dataclass(frozen=True)
class AccountList:
    """The accounts the caller belongs to, ordered by account id."""

    accounts: tuple[AccountInfo, ...]


@message("enotime.accounts.Member", version=1)
@dataclass(frozen=True)
class Member:
    """One member of an account: a user id and its role."""

    user: str
    role: str


@message("enotime.accounts.MemberList", version=1)
@dataclass(frozen=True)
class MemberList:
    """The members of ``account``, ordered by user id."""

    account: str
    members: tuple[Member, ...]


@message("enotime.accounts.Invitation", version=1)
@dataclass(frozen=True)
class Invitation:
    """An invitation that was mailed: its id (not its token), the role offered, its expiry.

    The token itself only travels in the mail, so whoever sent the invitation
    cannot accept it in the invitee's place.
    """

    invitation: str
    account: str
    role: str
    expires_at: float


# -- requests -----------------------------------------------------------------------------


@message("enotime.accounts.CreateAccount", version=1)
@dataclass(frozen=True)
class CreateAccount(Request[AccountInfo]):
    """Create an account named ``name``; the caller becomes its owner. Needs only a login."""

    name: str


@message("enotime.accounts.ListMyAccounts", version=1)
@dataclass(frozen=True)
class ListMyAccounts(Request[AccountList]):
    """The caller's accounts and roles, read from the store (not from the token)."""


@message("enotime.accounts.ListMembers", version=1)
@dataclass(frozen=True)
class ListMembers(Request[MemberList]):
    """The members of ``account`` and their roles. Needs ``account:read``."""

    account: str


@message("enotime.accounts.Invite", version=1)
@dataclass(frozen=True)
class Invite(Request[Invitation]):
    """Mail ``email`` an invitation to join ``account`` as ``role``. Needs ``account:invite``.

    Only an owner may invite an owner.
    """

    account: str
    email: str
    role: str


@message("enotime.accounts.AcceptInvite", version=1)
@dataclass(frozen=True)
class AcceptInvite(Request[AccountInfo]):
    """Join the account of the invitation whose mailed token is ``token``. Needs a login.

    No ``account`` field on purpose: the caller is not a member yet, so their
    token names another account.
    """

    token: str


@message("enotime.accounts.ChangeRole", version=1)
@dataclass(frozen=True)
class ChangeRole(Request[Member]):
    """Give ``user`` the role ``role`` in ``account``. Needs ``account:manage``.

    Only an owner may make or unmake an owner; the last owner stays one.
    """

    account: str
    user: str
    role: str


@message("enotime.accounts.RemoveMember", version=1)
@dataclass(frozen=True)
class RemoveMember(Request[None]):
    """Remove ``user`` from ``account``. Needs ``account:manage``, or the caller is ``user``.

    Only an owner may remove an owner; the last owner cannot leave.
    """

    account: str
    user: str
