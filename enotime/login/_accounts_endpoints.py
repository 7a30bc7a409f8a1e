"""The HTTP side of the accounts actor: endpoint declarations for the front.

Every route needs a bearer token. Routes on one account carry it in the path
(``/accounts/<account>/...``); the accounts actor refuses the request unless
it is the token's account (``acct``). To act in another account, get a token
for it first (the login actor's ``SwitchAccount``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from enotime.edge import Endpoint, InputModel, RateLimit
from enotime.login._accounts_messages import (
    AcceptInvite,
    ChangeRole,
    CreateAccount,
    Invite,
    ListMembers,
    ListMyAccounts,
    RemoveMember,
)
from enotime.login._memberships import MAX_ACCOUNT_NAME

__all__ = [
    "AcceptIn",
    "AccountIn",
    "AccountOut",
    "AccountsOut",
    "InvitationOut",
    "InviteIn",
    "MemberOut",
    "MembersOut",
    "RoleIn",
    "endpoints",
]

Role = Literal["owner", "admin", "member"]

_ID = "string(maxlength=64)"  # account and user ids: "acct-" / "usr-" and 32 hex digits


class AccountIn(InputModel):
    """A new account."""

    name: str = Field(min_length=1, max_length=MAX_ACCOUNT_NAME, examples=["Acme Ltd"])


class InviteIn(InputModel):
    """Whom to invite, and as what."""

    email: EmailStr = Field(max_length=320)
    role: Role = "member"


class AcceptIn(InputModel):
    """The invitation code from the mail."""

    token: str = Field(min_length=1, max_length=128)


class RoleIn(InputModel):
    """The member's new role."""

    role: Role


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class AccountOut(_Out):
    """An account, and the caller's role in it."""

    account: str
    name: str
    role: Role


class AccountsOut(_Out):
    """The caller's accounts."""

    accounts: list[AccountOut]


class MemberOut(_Out):
    """A member (a user id; addresses stay with the login actor) and their role."""

    user: str
    role: Role


class MembersOut(_Out):
    """The members of an account."""

    account: str
    members: list[MemberOut]


class InvitationOut(_Out):
    """An invitation that was mailed. The code itself is only in the mail."""

    invitation: str
    account: str
    role: Role
    expires_at: float = Field(description="Seconds since the epoch")


def endpoints(prefix: str = "/accounts", *, target: str = "accounts") -> list[Endpoint]:
    """The accounts routes under ``prefix``, handled by the actor named ``target``.

    ``POST /accounts``, ``GET /accounts``, ``POST /accounts/invitations/accept``,
    ``GET /accounts/<account>/members``, ``POST /accounts/<account>/invitations``,
    ``PUT`` and ``DELETE /accounts/<account>/members/<user>``.
    """
    one = f"{prefix}/<{_ID}:account>"
    tags = ("accounts",)
    return [
        Endpoint(
            method="POST",
            path=prefix,
            target=target,
            message=CreateAccount,
            input=AccountIn,
            output=AccountOut,
            status=201,
            summary="Create an account; you become its owner",
            tags=tags,
            rate_limits=(RateLimit(count=10, period=3600.0),),
            name="create_account",
        ),
        Endpoint(
            method="GET",
            path=prefix,
            target=target,
            message=ListMyAccounts,
            output=AccountsOut,
            summary="The accounts you belong to, with your role in each",
            tags=tags,
            name="list_my_accounts",
        ),
        Endpoint(
            method="POST",
            path=f"{prefix}/invitations/accept",
            target=target,
            message=AcceptInvite,
            input=AcceptIn,
            output=AccountOut,
            summary="Accept an invitation: join its account with the role offered",
            description="The invitation code is single-use and expires. Then switch account "
            "(the login actor) to get a token for the account joined.",
            tags=tags,
            rate_limits=(RateLimit(count=10, period=60.0),),
            errors=(409,),
            name="accept_invitation",
        ),
        Endpoint(
            method="GET",
            path=f"{one}/members",
            target=target,
            message=ListMembers,
            output=MembersOut,
            summary="The members of the account and their roles",
            tags=tags,
            errors=(403,),
            name="list_members",
        ),
        Endpoint(
            method="POST",
            path=f"{one}/invitations",
            target=target,
            message=Invite,
            input=InviteIn,
            output=InvitationOut,
            status=201,
            summary="Mail someone an invitation to the account (owners and admins)",
            description="Only an owner can invite an owner.",
            tags=tags,
            rate_limits=(RateLimit(count=30, period=3600.0),),
            errors=(403, 503),
            name="invite",
        ),
        Endpoint(
            method="PUT",
            path=f"{one}/members/<{_ID}:user>",
            target=target,
            message=ChangeRole,
            input=RoleIn,
            output=MemberOut,
            summary="Change a member's role (owners and admins)",
            description="Only an owner can make or change an owner; the last owner stays one.",
            tags=tags,
            errors=(403, 404, 409),
            name="change_role",
        ),
        Endpoint(
            method="DELETE",
            path=f"{one}/members/<{_ID}:user>",
            target=target,
            message=RemoveMember,
            summary="Remove a member (owners and admins), or leave the account yourself",
            description="Only an owner can remove an owner; the last owner cannot leave.",
            tags=tags,
            errors=(403, 404, 409),
            name="remove_member",
        ),
    ]
