"""The HTTP side of the login flows, declared for the front actor.

Inputs are checked here before the login actor sees them: addresses by
pydantic's ``EmailStr`` (email-validator), passwords by length (the policy's
exact rules -- NFKC, UTF-8 bytes -- are the actor's, which answers 400 with
the policy), tokens and codes by pattern. Passwords are *not* stripped of
spaces: a password is exactly what was typed. Outputs never carry more than
the reply: tokens in the OAuth 2 token-response shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from enotime.edge import Endpoint, Page, PageField, RateLimit
from enotime.login._config import LoginConfig
from enotime.login._messages import (
    ConfirmMfa,
    DisableMfa,
    EnrolMfa,
    Login,
    LoginMfa,
    Logout,
    Refresh,
    Register,
    RequestPasswordReset,
    ResendVerification,
    ResetPassword,
    SwitchAccount,
    VerifyEmail,
    WhoAmI,
)
from enotime.login._onetime import MAX_TOKEN_CHARS

__all__ = [
    "LOGIN_LIMIT",
    "RESET_PAGE",
    "STRICT_LIMIT",
    "VERIFY_PAGE",
    "AcceptedOut",
    "AccountRolesOut",
    "ConfirmMfaIn",
    "DisableMfaIn",
    "EmailIn",
    "LoginIn",
    "LoginMfaIn",
    "LoginOut",
    "LogoutIn",
    "MeOut",
    "MfaEnrolmentOut",
    "RecoveryCodesOut",
    "RefreshIn",
    "RegisterIn",
    "ResetPasswordIn",
    "SwitchAccountIn",
    "TokenIn",
    "TokensOut",
    "endpoints",
]

_MAX_PASSWORD = LoginConfig().max_password_bytes

STRICT_LIMIT = RateLimit(count=5, period=60.0)
"""Per address and route: the routes that send mail or create users."""
LOGIN_LIMIT = RateLimit(count=10, period=60.0)
"""Per address and route: the routes that check a password, code or token."""

VERIFY_PAGE = Page(
    title="Confirm your email address",
    text="Press the button to confirm that this address is yours.",
    button="Confirm my address",
    done="Email address confirmed",
)
"""The page a mailed verification link opens (its GET confirms nothing; the button does)."""
RESET_PAGE = Page(
    title="Choose a new password",
    text="Setting a new password ends every session of your account.",
    button="Set the new password",
    done="Password changed",
    fields=(
        PageField(
            "new_password",
            f"New password (at least {LoginConfig().min_password_chars} characters)",
            type="password",
            autocomplete="new-password",
            minlength=LoginConfig().min_password_chars,
        ),
    ),
)
"""The page a mailed reset link opens: a new password, and a button that sends it."""

Email = Annotated[EmailStr, Field(max_length=254, examples=["alice@example.com"])]
NewPassword = Annotated[
    str,
    Field(
        min_length=LoginConfig().min_password_chars,
        max_length=_MAX_PASSWORD,
        description="At least 12 characters, at most 1024 bytes in UTF-8; spaces count.",
    ),
]
Password = Annotated[str, Field(min_length=1, max_length=_MAX_PASSWORD)]
MailedToken = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]+$", max_length=MAX_TOKEN_CHARS
    ),
]
RefreshToken = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$"),
]
Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, pattern=r"^[0-9A-Za-z][0-9A-Za-z -]{4,30}[0-9A-Za-z]$"
    ),
    Field(description="A 6-digit TOTP code, or a recovery code such as 7hq2-mx0c-r4vd."),
]
TotpCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[0-9][0-9 ]{4,10}[0-9]$"),
    Field(description="The 6-digit code of the authenticator app."),
]
AccountId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@+=-]{0,199}$")]


class _In(BaseModel):
    # Not enotime.edge.InputModel: that one strips strings, and a password is what was typed.
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=8192)


# -- inputs ---------------------------------------------------------------------------


class RegisterIn(_In):
    email: Email
    password: NewPassword


class EmailIn(_In):
    email: Email


class TokenIn(_In):
    token: MailedToken


class LoginIn(_In):
    email: Email
    password: Password
    totp: TotpCode | None = None


class LoginMfaIn(_In):
    challenge: MailedToken
    code: Code


class RefreshIn(_In):
    refresh_token: RefreshToken


class ResetPasswordIn(_In):
    token: MailedToken
    new_password: NewPassword


class LogoutIn(_In):
    refresh_token: RefreshToken | None = None
    everywhere: bool = False


class SwitchAccountIn(_In):
    account: AccountId
    refresh_token: RefreshToken | None = None


class ConfirmMfaIn(_In):
    code: TotpCode


class DisableMfaIn(_In):
    code: Code | None = None
    password: Password | None = None


# -- outputs --------------------------------------------------------------------------


class AcceptedOut(BaseModel):
    detail: str


class TokensOut(BaseModel):
    """An OAuth 2 token response (RFC 6749, 5.1), plus the account the token acts in."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str | None = None
    account: str


class LoginOut(BaseModel):
    """Tokens; or, with MFA enrolled, ``mfa_required`` and a ``challenge`` for ``/login/mfa``."""

    mfa_required: bool = False
    challenge: str | None = None
    methods: list[str] | None = None
    access_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = None
    refresh_token: str | None = None
    account: str | None = None


class MfaEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str


class RecoveryCodesOut(BaseModel):
    codes: list[str]


class AccountRolesOut(BaseModel):
    account: str
    roles: list[str]


class MeOut(BaseModel):
    user: str
    account: str
    email: str
    mfa_enabled: bool
    accounts: list[AccountRolesOut]


# -- messages built from inputs whose names differ ------------------------------------


def _switch(data: BaseModel | None, params: Mapping[str, Any]) -> SwitchAccount:
    assert isinstance(data, SwitchAccountIn)
    return SwitchAccount(target=data.account, refresh_token=data.refresh_token)


def endpoints(
    prefix: str = "/auth",
    *,
    target: str = "login",
    strict_limit: RateLimit = STRICT_LIMIT,
    login_limit: RateLimit = LOGIN_LIMIT,
    pages: bool = True,
) -> list[Endpoint]:
    """The endpoint declarations of every login flow, under ``prefix``.

    Args:
        prefix: The path every route starts with.
        target: The login actor's registered name.
        strict_limit: Extra per-address limit on the routes that send mail
            or create users (register, resend, forgot-password).
        login_limit: Extra per-address limit on the routes that check a
            password, a code or a token (login, MFA, reset, verify). The
            login actor's own per-user lockout works underneath.
        pages: Serve the pages the mailed links open (``GET /verify-email``
            and ``GET /reset-password``: a form whose button POSTs the token,
            see :class:`~enotime.edge.Page`). Switch them off when
            ``LoginConfig.link_base_url`` points at a front-end of your own.
    """
    p = prefix.rstrip("/")
    tags = ("auth",)
    mailing, guessing = (strict_limit,), (login_limit,)

    def public(
        path: str, message: type, input: type[BaseModel], output: type[BaseModel], **kw: Any
    ) -> Endpoint:
        return Endpoint(
            method="POST",
            path=p + path,
            target=target,
            message=message,
            input=input,
            output=output,
            public=True,
            tags=tags,
            **kw,
        )

    return [
        public(
            "/register",
            Register,
            RegisterIn,
            AcceptedOut,
            status=202,
            rate_limits=mailing,
            summary="Sign up",
            description="Answers the same whether or not the address has an account; "
            "a verification link is mailed.",
            errors=(403,),
        ),
        public(
            "/verify-email",
            VerifyEmail,
            TokenIn,
            AcceptedOut,
            rate_limits=guessing,
            summary="Verify an email address with the mailed token",
            errors=(403,),
            page=VERIFY_PAGE if pages else None,
        ),
        public(
            "/verify-email/resend",
            ResendVerification,
            EmailIn,
            AcceptedOut,
            status=202,
            rate_limits=mailing,
            summary="Mail a new verification link",
            errors=(403,),
        ),
        public(
            "/login",
            Login,
            LoginIn,
            LoginOut,
            rate_limits=guessing,
            summary="Log in with email and password",
            description="Answers tokens, or with MFA enrolled a challenge for /login/mfa. "
            "A wrong password, an unknown address and a locked account get the same 401.",
            errors=(401, 403),
        ),
        public(
            "/login/mfa",
            LoginMfa,
            LoginMfaIn,
            TokensOut,
            rate_limits=guessing,
            summary="Second login step: a TOTP or recovery code",
            errors=(401,),
        ),
        public(
            "/refresh",
            Refresh,
            RefreshIn,
            TokensOut,
            rate_limits=guessing,
            summary="Exchange a refresh token for new tokens (it is spent)",
            errors=(401, 403),
        ),
        public(
            "/forgot-password",
            RequestPasswordReset,
            EmailIn,
            AcceptedOut,
            status=202,
            rate_limits=mailing,
            summary="Mail a password-reset link",
            description="Answers the same whether or not the address has an account.",
            errors=(403,),
        ),
        public(
            "/reset-password",
            ResetPassword,
            ResetPasswordIn,
            AcceptedOut,
            rate_limits=guessing,
            summary="Set a new password with the mailed token; ends every session",
            errors=(403,),
            page=RESET_PAGE if pages else None,
        ),
        Endpoint(
            method="POST",
            path=f"{p}/logout",
            target=target,
            message=Logout,
            input=LogoutIn,
            tags=tags,
            summary="Revoke this access token (and a refresh token's session)",
        ),
        Endpoint(
            method="GET",
            path=f"{p}/me",
            target=target,
            message=WhoAmI,
            output=MeOut,
            tags=tags,
            summary="Who the caller is, and their accounts",
            name="me",
        ),
        Endpoint(
            method="POST",
            path=f"{p}/switch-account",
            target=target,
            message=_switch,
            input=SwitchAccountIn,
            output=TokensOut,
            tags=tags,
            summary="New tokens acting in another account of the caller",
            errors=(401,),
        ),
        Endpoint(
            method="POST",
            path=f"{p}/mfa/enrol",
            target=target,
            message=EnrolMfa,
            output=MfaEnrolmentOut,
            tags=tags,
            summary="Start TOTP enrolment",
            errors=(409,),
        ),
        Endpoint(
            method="POST",
            path=f"{p}/mfa/confirm",
            target=target,
            message=ConfirmMfa,
            input=ConfirmMfaIn,
            output=RecoveryCodesOut,
            tags=tags,
            rate_limits=guessing,
            summary="Activate TOTP with a current code; answers recovery codes",
            errors=(409,),
        ),
        Endpoint(
            method="POST",
            path=f"{p}/mfa/disable",
            target=target,
            message=DisableMfa,
            input=DisableMfaIn,
            output=AcceptedOut,
            tags=tags,
            rate_limits=guessing,
            summary="Switch TOTP off with a current code, a recovery code or the password",
            errors=(409,),
        ),
    ]
