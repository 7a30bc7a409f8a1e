"""What the login actor is asked, and what it answers.

Requests are frozen dataclasses typed by their reply (``Request[R]``),
registered for the wire (tags ``enotime.login.*``) so a front on another node
may call the login actor. Fields holding a secret (passwords, tokens, codes)
are left out of ``repr``, so a message in a log line or a dead letter shows
none of them.

Public flows (no token needed): :class:`Register`, :class:`VerifyEmail`,
:class:`ResendVerification`, :class:`Login`, :class:`LoginMfa`,
:class:`Refresh`, :class:`RequestPasswordReset`, :class:`ResetPassword`.
Authenticated ones take the caller from the request context's claims:
:class:`Logout`, :class:`WhoAmI`, :class:`SwitchAccount`, :class:`EnrolMfa`,
:class:`ConfirmMfa`, :class:`DisableMfa`. :class:`RotateSigningKey` is for
operators on the node and is never exposed over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enotime.messages import Request
from enotime.transport import message

__all__ = [
    "Accepted",
    "AccountRoles",
    "ConfirmMfa",
    "DisableMfa",
    "EnrolMfa",
    "Login",
    "LoginMfa",
    "Logout",
    "Me",
    "MfaChallenge",
    "MfaEnrolment",
    "RecoveryCodes",
    "Refresh",
    "Register",
    "RequestPasswordReset",
    "ResendVerification",
    "ResetPassword",
    "RotateSigningKey",
    "SwitchAccount",
    "Tokens",
    "VerifyEmail",
    "WhoAmI",
]

# -- results ------------------------------------------------------------------------


@message("enotime.login.Accepted", version=1)
@dataclass(frozen=True)
class Accepted:
    """A request was taken; ``detail`` says what happens next.

    Deliberately the same whatever was found: registering a known address,
    asking a reset for an unknown one and a fresh registration all answer this.
    """

    detail: str


@message("enotime.login.Tokens", version=1)
@dataclass(frozen=True)
class Tokens:
    """A session's tokens (OAuth 2 token-response names).

    Attributes:
        access_token: The JWT for ``Authorization: Bearer``.
        refresh_token: Opaque, single use: ``Refresh`` answers a new one.
            None when only an access token was issued (``SwitchAccount``
            without a refresh token, or refresh tokens switched off).
        token_type: Always ``"Bearer"``.
        expires_in: Seconds the access token lives.
        account: The account the access token acts in (its ``acct`` claim).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    account: str
    token_type: str = "Bearer"


@message("enotime.login.MfaChallenge", version=1)
@dataclass(frozen=True)
class MfaChallenge:
    """The password was right; now send a code with ``LoginMfa(challenge, code)``.

    Not an error: the second step of a login. The challenge is single use,
    short-lived and accepts a few wrong codes before it is spent.
    ``methods`` lists what a code may be: ``"totp"``, ``"recovery_code"``.
    """

    challenge: str = field(repr=False)
    methods: tuple[str, ...] = ("totp", "recovery_code")
    mfa_required: bool = True


@message("enotime.login.MfaEnrolment", version=1)
@dataclass(frozen=True)
class MfaEnrolment:
    """A new TOTP secret, not active until ``ConfirmMfa`` with a code from it."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


@message("enotime.login.RecoveryCodes", version=1)
@dataclass(frozen=True)
class RecoveryCodes:
    """Single-use codes that replace a TOTP code; shown once, stored hashed."""

    codes: tuple[str, ...] = field(repr=False)


@message("enotime.login.AccountRoles", version=1)
@dataclass(frozen=True)
class AccountRoles:
    """One account the caller belongs to, with the caller's roles in it."""

    account: str
    roles: tuple[str, ...]


@message("enotime.login.Me", version=1)
@dataclass(frozen=True)
class Me:
    """Who the caller is: user id, current account, every membership, MFA state."""

    user: str
    account: str
    email: str
    mfa_enabled: bool
    accounts: tuple[AccountRoles, ...]


# -- public flows -----------------------------------------------------------------


@message("enotime.login.Register", version=1)
@dataclass(frozen=True)
class Register(Request[Accepted]):
    """Sign up. Answers :class:`Accepted` whether or not the address is known."""

    email: str
    password: str = field(repr=False)


@message("enotime.login.VerifyEmail", version=1)
@dataclass(frozen=True)
class VerifyEmail(Request[Accepted]):
    """Consume a mailed verification token."""

    token: str = field(repr=False)


@message("enotime.login.ResendVerification", version=1)
@dataclass(frozen=True)
class ResendVerification(Request[Accepted]):
    """Mail a new verification link if the address is registered and unverified."""

    email: str


@message("enotime.login.Login", version=1)
@dataclass(frozen=True)
class Login(Request[Tokens | MfaChallenge]):
    """Log in with a password; with MFA enrolled, answers :class:`MfaChallenge`.

    ``totp`` may carry the code at once, saving the second step.
    """

    email: str
    password: str = field(repr=False)
    totp: str | None = field(default=None, repr=False)


@message("enotime.login.LoginMfa", version=1)
@dataclass(frozen=True)
class LoginMfa(Request[Tokens]):
    """The second step: a TOTP code or a recovery code for an :class:`MfaChallenge`."""

    challenge: str = field(repr=False)
    code: str = field(repr=False)


@message("enotime.login.Refresh", version=1)
@dataclass(frozen=True)
class Refresh(Request[Tokens]):
    """Exchange a refresh token for new tokens (the old one is spent)."""

    refresh_token: str = field(repr=False)


@message("enotime.login.RequestPasswordReset", version=1)
@dataclass(frozen=True)
class RequestPasswordReset(Request[Accepted]):
    """Mail a reset link if the address is registered. Same answer either way."""

    email: str


@message("enotime.login.ResetPassword", version=1)
@dataclass(frozen=True)
class ResetPassword(Request[Accepted]):
    """Set a new password with a mailed reset token; ends every session of the user."""

    token: str = field(repr=False)
    new_password: str = field(repr=False)


# -- authenticated flows ----------------------------------------------------------


@message("enotime.login.Logout", version=1)
@dataclass(frozen=True)
class Logout(Request[None]):
    """End this session: revoke the presented access token and the refresh family.

    ``everywhere`` ends every session of the caller (all refresh families, all
    access tokens issued so far).
    """

    refresh_token: str | None = field(default=None, repr=False)
    everywhere: bool = False


@message("enotime.login.WhoAmI", version=1)
@dataclass(frozen=True)
class WhoAmI(Request[Me]):
    """The caller's identity and memberships."""


@message("enotime.login.SwitchAccount", version=1)
@dataclass(frozen=True)
class SwitchAccount(Request[Tokens]):
    """New tokens acting in ``target``, an account the caller is a member of.

    With ``refresh_token`` (the caller's own) its family is rotated into the
    new account and a new refresh token answered; without, only an access
    token is issued -- an access token alone never mints a refresh token.
    (Named ``target``, not ``account``: the worker checks an ``account``
    attribute against the token's own account.)
    """

    target: str
    refresh_token: str | None = field(default=None, repr=False)


@message("enotime.login.EnrolMfa", version=1)
@dataclass(frozen=True)
class EnrolMfa(Request[MfaEnrolment]):
    """Start TOTP enrolment: a new secret, pending until confirmed."""


@message("enotime.login.ConfirmMfa", version=1)
@dataclass(frozen=True)
class ConfirmMfa(Request[RecoveryCodes]):
    """Activate the pending TOTP secret with a current code; answers recovery codes."""

    code: str = field(repr=False)


@message("enotime.login.DisableMfa", version=1)
@dataclass(frozen=True)
class DisableMfa(Request[Accepted]):
    """Switch TOTP off; needs a current code, a recovery code or the password."""

    code: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


# -- operators ----------------------------------------------------------------------


@message("enotime.login.RotateSigningKey", version=1)
@dataclass(frozen=True)
class RotateSigningKey(Request[str]):
    """Start signing with a new key (answers its ``kid``); older keys keep verifying.

    Keys beyond ``LoginConfig.max_signing_keys`` are retired. For operators on
    the node: never declare an endpoint for it.
    """
