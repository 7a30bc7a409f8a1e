"""What an email address and a password must be, and their canonical forms.

Email addresses are checked and normalised by ``email-validator`` (the library
behind pydantic's ``EmailStr``): the domain is lower-cased and IDNA-normalised,
the local part kept as written. The *lookup* form also lower-cases the local
part: RFC 5321 lets a server treat ``Alice`` and ``alice`` as different
mailboxes, but no mainstream provider does, and two accounts that differ only
in case would be a gift to phishers. Dots and ``+tags`` are left alone (their
meaning is provider-specific), so ``a.b+x@gmail.com`` is its own account. Mail
goes to the address as first registered.

Passwords follow NIST SP 800-63B: any characters, spaces included, normalised
to NFKC (so the same password typed on two keyboards matches), at least
``min_chars`` characters and at most ``max_bytes`` UTF-8 bytes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from enotime.login._errors import InvalidEmail, WeakPassword

__all__ = ["MAX_EMAIL_CHARS", "Email", "check_password", "login_password", "parse_email"]

MAX_EMAIL_CHARS = 254
"""The longest address accepted (RFC 5321's path limit less the angle brackets)."""


@dataclass(frozen=True, slots=True)
class Email:
    """A checked address: ``address`` to write to, ``lookup`` to find its owner by."""

    address: str
    lookup: str


def parse_email(text: object) -> Email:
    """Check and normalise an address; :class:`InvalidEmail` if it is not one."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_EMAIL_CHARS:
        raise InvalidEmail("enter a valid email address")
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise InvalidEmail("enter a valid email address") from None
    return Email(checked.normalized, f"{checked.local_part.lower()}@{checked.domain}")


def check_password(password: object, *, min_chars: int, max_bytes: int) -> str:
    """The NFKC form of ``password`` if it meets the policy, else :class:`WeakPassword`."""
    policy = f"a password needs at least {min_chars} characters and at most {max_bytes} bytes"
    if not isinstance(password, str):
        raise WeakPassword(policy)
    # Measure before normalising too: NFKC can expand a string up to 18-fold.
    if len(password) > max_bytes:
        raise WeakPassword(policy)
    normalised = unicodedata.normalize("NFKC", password)
    size = _utf8_size(normalised)
    if size is None:
        raise WeakPassword("a password must be valid Unicode text")
    if len(normalised) < min_chars or size > max_bytes:
        raise WeakPassword(policy)
    if not normalised.strip():
        raise WeakPassword("a password cannot be only spaces")
    return normalised


def login_password(password: object, *, max_bytes: int) -> str | None:
    """The NFKC form of a password typed at login, or None if it cannot be anyone's.

    No minimum: the policy may have been raised since the password was set. Too
    long is refused before any hashing (argon2 would hash megabytes).
    """
    if not isinstance(password, str) or len(password) > max_bytes:
        return None
    normalised = unicodedata.normalize("NFKC", password)
    size = _utf8_size(normalised)
    if size is None or size > max_bytes:
        return None
    return normalised


def _utf8_size(text: str) -> int | None:
    # A lone surrogate (possible in JSON "\ud800") has no UTF-8 form: argon2 would raise.
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None
