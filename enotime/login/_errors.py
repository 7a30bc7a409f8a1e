"""The login actor's refusals, documented by contrast.

All are :class:`~enotime.errors.Refused`: the caller gets the error, the actor
keeps running. ``http_status`` is what the front answers and every message is
safe to show. A few answers are deliberately vague: a login refusal never says
whether the address is known, whether the password was wrong or whether the
account is locked, and a mailed token that is unknown, used or expired is one
error, not three.
"""

from __future__ import annotations

from typing import ClassVar

from enotime.errors import Refused

__all__ = [
    "EmailNotVerified",
    "FlowDisabled",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidMfaCode",
    "InvalidOrExpiredToken",
    "InvalidRefreshToken",
    "LoginError",
    "LoginUnavailable",
    "MfaAlreadyEnabled",
    "MfaNotEnabled",
    "RegistrationClosed",
    "WeakPassword",
]


class LoginError(Refused):
    """Root of the login actor's refusals; catch it to handle any of them."""

    http_status: ClassVar[int] = 400
    title: ClassVar[str] = "Login request refused"


class InvalidCredentials(LoginError):
    """The email and password do not open an account -- or the account is locked.

    The same answer for an unknown address, a wrong password and a locked
    account, so it cannot be used to find accounts or to tell when a lock ends.
    Not :class:`EmailNotVerified`, which is only answered to the right password.
    """

    http_status: ClassVar[int] = 401
    title: ClassVar[str] = "Invalid credentials"

    def __init__(self) -> None:
        super().__init__("the email or password is not correct")


class EmailNotVerified(LoginError):
    """The password was right but the address is not verified yet (and must be).

    Only answered to someone who knew the password, so it reveals nothing to
    anyone else; ``resend_verification`` mails a new link.
    """

    http_status: ClassVar[int] = 403
    title: ClassVar[str] = "Email not verified"

    def __init__(self) -> None:
        super().__init__("verify your email address first: follow the link we mailed you")


class FlowDisabled(LoginError):
    """The flow asked for is switched off in this system's configuration."""

    http_status: ClassVar[int] = 403
    title: ClassVar[str] = "Not available"


class RegistrationClosed(FlowDisabled):
    """Registration is switched off: no new users are accepted."""

    title: ClassVar[str] = "Registration closed"

    def __init__(self) -> None:
        super().__init__("registration is closed")


class WeakPassword(LoginError):
    """The password does not meet the policy; the message states the policy."""

    title: ClassVar[str] = "Password refused"


class InvalidEmail(LoginError):
    """The text given is not a usable email address. Nothing was looked up."""

    title: ClassVar[str] = "Invalid email address"


class InvalidOrExpiredToken(LoginError):
    """A mailed token (verification, reset) or an MFA challenge is unknown, used or expired.

    One answer for the three cases: a token is single use, and telling a used
    token from one that never existed helps nobody but an attacker. Not
    :class:`InvalidRefreshToken`, which is about sessions.
    """

    title: ClassVar[str] = "Invalid or expired token"

    def __init__(self) -> None:
        super().__init__("this link or token is invalid or has expired")


class InvalidRefreshToken(LoginError):
    """A refresh token that is unknown, expired, revoked or already used: log in again.

    Presenting a used one also revokes its whole family (reuse detection), but
    the answer is the same.
    """

    http_status: ClassVar[int] = 401
    title: ClassVar[str] = "Invalid refresh token"

    def __init__(self) -> None:
        super().__init__("the session has ended: log in again")


class InvalidMfaCode(LoginError):
    """The TOTP or recovery code is wrong, malformed, already used -- or the account is locked."""

    http_status: ClassVar[int] = 401
    title: ClassVar[str] = "Invalid code"

    def __init__(self) -> None:
        super().__init__("the code is not correct")


class MfaAlreadyEnabled(LoginError):
    """Enrolment asked for by a user whose MFA is already active: disable it first."""

    http_status: ClassVar[int] = 409
    title: ClassVar[str] = "MFA already enabled"

    def __init__(self) -> None:
        super().__init__("two-factor authentication is already enabled")


class MfaNotEnabled(LoginError):
    """Confirm without a pending enrolment, or disable without active MFA."""

    http_status: ClassVar[int] = 409
    title: ClassVar[str] = "MFA not enabled"

    def __init__(self, detail: str = "two-factor authentication is not enabled") -> None:
        super().__init__(detail)


class LoginUnavailable(LoginError):
    """The store or crypto actor behind the login actor is down, slow or sealed: retry later.

    Nothing about the request is implied; the cause is logged, not shown.
    """

    http_status: ClassVar[int] = 503
    title: ClassVar[str] = "Login unavailable"

    def __init__(self) -> None:
        super().__init__("the login service is unavailable: try again later")
