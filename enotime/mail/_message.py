"""The mail itself: an immutable record, checked when it is built."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from enotime.mail._errors import InvalidMail
from enotime.transport._message import message

try:
    from email_validator import EmailNotValidError, validate_email
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise ImportError('enotime.mail needs email-validator: pip install "enotime[edge]"') from exc

__all__ = ["Mail", "check_address", "masked"]


def _has_control_characters(text: str) -> bool:
    # CR and LF would let a caller add headers (header injection); the other
    # control characters have no business in a header either.
    return any(unicodedata.category(char) == "Cc" for char in text)


def masked(address: str) -> str:
    """``address`` with its local part hidden (``a***@example.com``), for log lines."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def check_address(address: str, *, what: str = "recipient") -> str:
    """The normalised form of ``address``; :class:`InvalidMail` if it is not a valid address.

    Checked by email-validator, offline (no DNS): the syntax, and no
    special-use domain such as ``.test`` or ``localhost``. The error names
    ``what`` but never repeats the address, so it is safe to show and to log.
    """
    if not isinstance(address, str):
        raise InvalidMail(f"the {what} address must be a string")
    if _has_control_characters(address):
        raise InvalidMail(f"the {what} address contains control characters (CR, LF, ...)")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidMail(f"the {what} address is not valid: {error}") from None


@message("enotime.mail.Mail", version=1)
@dataclass(frozen=True)
class Mail:
    """One plain-text mail to one recipient.

    The address is checked and normalised (email-validator, without DNS) and
    the subject may hold no control characters, so no header can be injected:
    both raise :class:`~enotime.mail.InvalidMail`, a ``ValueError``.

    Attributes:
        to: The recipient's address, normalised (the domain in lower case).
        subject: One line of text.
        text: The plain-text body. It may hold secrets (a verification link),
            so mailers never log it.
    """

    to: str
    subject: str
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", check_address(self.to))
        if not isinstance(self.subject, str) or not isinstance(self.text, str):
            raise InvalidMail("a mail's subject and text must be strings")
        if _has_control_characters(self.subject):
            raise InvalidMail("the subject contains control characters (CR, LF, ...)")

    def __repr__(self) -> str:
        # The body may hold a secret (a verification or reset link): keep it out of
        # reprs, which end up in logs and dead-letter reports.
        return f"Mail(to={self.to!r}, subject={self.subject!r}, text=<{len(self.text)} chars>)"
