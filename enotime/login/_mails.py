"""The texts the login actor mails. Links carry a token in their query string."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from enotime.mail import Mail

__all__ = [
    "already_registered",
    "link",
    "login_notice",
    "mfa_changed",
    "password_changed",
    "reset_password",
    "verify_email",
]


def link(base_url: str, path: str, token: str) -> str:
    """``base_url`` + ``path`` with ``?token=...``."""
    return f"{base_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def verify_email(to: str, url: str, ttl: float) -> Mail:
    return Mail(
        to,
        "Confirm your email address",
        "Welcome! Confirm your email address by opening this link:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {_hours(ttl)}.\n"
        "If you did not sign up, ignore this mail.\n",
    )


def already_registered(to: str) -> Mail:
    return Mail(
        to,
        "Someone tried to sign up with your address",
        "Someone -- perhaps you -- tried to create an account with this email address,\n"
        "but it already has one. If it was you, log in, or reset your password if you\n"
        "forgot it. If it was not you, you can ignore this mail: nothing was changed.\n",
    )


def reset_password(to: str, url: str, ttl: float) -> Mail:
    return Mail(
        to,
        "Reset your password",
        "Someone asked to reset the password of your account. To choose a new one, open:\n\n"
        f"{url}\n\n"
        f"The link works once and expires in {_hours(ttl)}.\n"
        "If you did not ask for this, ignore this mail: your password is unchanged.\n",
    )


def password_changed(to: str) -> Mail:
    return Mail(
        to,
        "Your password was changed",
        "The password of your account was just changed and every session was ended.\n"
        "If you did not do this, reset your password now.\n",
    )


def login_notice(to: str, when: float, with_mfa: bool) -> Mail:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
    how = "with password and two-factor code" if with_mfa else "with password"
    return Mail(
        to,
        "New login to your account",
        f"Your account was logged in {how} at {stamp}.\n"
        "If this was not you, reset your password now.\n",
    )


def mfa_changed(to: str, enabled: bool) -> Mail:
    state = "enabled" if enabled else "disabled"
    return Mail(
        to,
        f"Two-factor authentication {state}",
        f"Two-factor authentication was just {state} on your account.\n"
        "If you did not do this, reset your password now.\n",
    )
