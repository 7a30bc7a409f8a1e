"""Login: registration, email verification, login with lockout, sessions, password reset, MFA.

:class:`LoginService` is the login actor (registered as ``"login"``),
configured by :class:`LoginConfig`; each flow can be switched off. It keeps
everything in the encrypted store (give the store actor
:data:`DOCUMENT_TYPES`), hashes passwords with argon2id off the event loop,
signs access tokens with keys sealed in the store, rotates refresh tokens
with reuse detection and tells the fronts of every revocation.

:func:`endpoints` declares the HTTP side of every flow for the front actor.
:class:`LoginSweeper` deletes expired mailed tokens, MFA challenges and
refresh-token families from the store, in an actor of its own.

Accounts -- tenants several users share, each with a role -- live here too:
:class:`AccountsService` (registered as ``"accounts"``) invites, accepts,
changes roles and removes members; :func:`account_endpoints` declares its
routes; :func:`create_account`, :func:`roles_of` and :func:`accounts_of` are
the store helpers the login actor uses when it registers users and issues
tokens.

Needs the ``edge`` extra: ``pip install "enotime[edge]"``.
"""

from __future__ import annotations

from typing import Final

from enotime.login import _memberships
from enotime.login._accounts import AccountsConfig, AccountsService
from enotime.login._accounts_endpoints import endpoints as account_endpoints
from enotime.login._accounts_errors import (
    AccountError,
    AccountFlowDisabled,
    AccountsUnavailable,
    AlreadyMember,
    InvalidAccountName,
    InvalidInvitation,
    InvalidInviteeEmail,
    InvalidRole,
    InvitationProblem,
    LastOwner,
    NotAMember,
    UnknownAccount,
)
from enotime.login._accounts_messages import (
    AcceptInvite,
    AccountInfo,
    AccountList,
    ChangeRole,
    CreateAccount,
    Invitation,
    Invite,
    ListMembers,
    ListMyAccounts,
    Member,
    MemberList,
    RemoveMember,
)
from enotime.login._config import LoginConfig
from enotime.login._endpoints import endpoints
from enotime.login._errors import (
    EmailNotVerified,
    FlowDisabled,
    InvalidCredentials,
    InvalidEmail,
    InvalidMfaCode,
    InvalidOrExpiredToken,
    InvalidRefreshToken,
    LoginError,
    LoginUnavailable,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    RegistrationClosed,
    WeakPassword,
)
from enotime.login._memberships import (
    ACCOUNT_PERMISSIONS,
    ROLES,
    accounts_of,
    create_account,
    members_of,
    roles_of,
)
from enotime.login._messages import (
    Accepted,
    AccountRoles,
    ConfirmMfa,
    DisableMfa,
    EnrolMfa,
    Login,
    LoginMfa,
    Logout,
    Me,
    MfaChallenge,
    MfaEnrolment,
    RecoveryCodes,
    Refresh,
    Register,
    RequestPasswordReset,
    ResendVerification,
    ResetPassword,
    RotateSigningKey,
    SwitchAccount,
    Tokens,
    VerifyEmail,
    WhoAmI,
)
from enotime.login._records import DOCUMENT_TYPES as LOGIN_DOCUMENT_TYPES
from enotime.login._service import LoginService
from enotime.login._sweeper import LoginSweeper, SweepExpired
from enotime.store import DocumentType

DOCUMENT_TYPES: Final[tuple[DocumentType, ...]] = (
    *LOGIN_DOCUMENT_TYPES,
    *_memberships.DOCUMENT_TYPES,
)
"""Every document type the login actor and the accounts helpers keep: give them to the store."""

__all__ = [
    "ACCOUNT_PERMISSIONS",
    "DOCUMENT_TYPES",
    "ROLES",
    "AcceptInvite",
    "Accepted",
    "AccountError",
    "AccountFlowDisabled",
    "AccountInfo",
    "AccountList",
    "AccountRoles",
    "AccountsConfig",
    "AccountsService",
    "AccountsUnavailable",
    "AlreadyMember",
    "ChangeRole",
    "ConfirmMfa",
    "CreateAccount",
    "DisableMfa",
    "EmailNotVerified",
    "EnrolMfa",
    "FlowDisabled",
    "InvalidAccountName",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidInvitation",
    "InvalidInviteeEmail",
    "InvalidMfaCode",
    "InvalidOrExpiredToken",
    "InvalidRefreshToken",
    "InvalidRole",
    "Invitation",
    "InvitationProblem",
    "Invite",
    "LastOwner",
    "ListMembers",
    "ListMyAccounts",
    "Login",
    "LoginConfig",
    "LoginError",
    "LoginMfa",
    "LoginService",
    "LoginSweeper",
    "LoginUnavailable",
    "Logout",
    "Me",
    "Member",
    "MemberList",
    "MfaAlreadyEnabled",
    "MfaChallenge",
    "MfaEnrolment",
    "MfaNotEnabled",
    "NotAMember",
    "RecoveryCodes",
    "Refresh",
    "Register",
    "RegistrationClosed",
    "RemoveMember",
    "RequestPasswordReset",
    "ResendVerification",
    "ResetPassword",
    "RotateSigningKey",
    "SweepExpired",
    "SwitchAccount",
    "Tokens",
    "UnknownAccount",
    "VerifyEmail",
    "WeakPassword",
    "WhoAmI",
    "account_endpoints",
    "accounts_of",
    "create_account",
    "endpoints",
    "members_of",
    "roles_of",
]
