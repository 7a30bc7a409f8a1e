"""Time-based one-time passwords (RFC 6238) with replay prevention, and recovery codes.

pyotp does the TOTP arithmetic (HOTP, dynamic truncation, time steps); this
module only decides which time steps are acceptable and refuses a step that
was already used, so a code read over someone's shoulder cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence

import pyotp

__all__ = [
    "RECOVERY_ALPHABET",
    "Totp",
    "hash_recovery_code",
    "match_recovery_code",
    "new_recovery_codes",
]

_MAX_CODE_CHARS = 64
"""Longer input is refused before any work is done on it."""


class Totp:
    """TOTP codes for one issuer: secrets, provisioning URIs, and verification.

    Args:
        issuer: Shown by authenticator apps next to the account name.
        digits: Digits per code (6 to 10).
        interval: Seconds per time step.
        valid_window: Steps accepted on each side of the current one, for
            clock drift and slow typing (1: the previous and the next step).
        clock: Wall-clock seconds since the Unix epoch (``time.time``);
            injected so tests choose the time.

    Example:
        >>> totp = Totp()
        >>> secret = totp.new_secret()
        >>> step = totp.verify(secret, "123 456", last_step=None)  # None: refused
    """

    def __init__(
        self,
        issuer: str = "ENoTime",
        digits: int = 6,
        interval: int = 30,
        valid_window: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 6 <= digits <= 10:
            raise ValueError("digits must be between 6 and 10")
        if interval < 1:
            raise ValueError("interval must be at least 1 second")
        if valid_window < 0:
            raise ValueError("valid_window cannot be negative")
        self.issuer = issuer
        self.digits = digits
        self.interval = interval
        self.valid_window = valid_window
        self.clock = clock

    def _otp(self, secret: str) -> pyotp.TOTP:
        try:
            otp = pyotp.TOTP(secret, digits=self.digits, interval=self.interval, issuer=self.issuer)
            otp.byte_secret()  # decodes the secret, whatever pyotp's version checks
        except ValueError:  # binascii.Error: never echo the secret
            raise ValueError("the TOTP secret is not valid base32") from None
        return otp

    def new_secret(self) -> str:
        """A fresh random secret: 32 base32 characters (160 bits, RFC 4226's recommendation)."""
        return pyotp.random_base32()

    def provisioning_uri(self, secret: str, account_name: str) -> str:
        """The ``otpauth://`` URI an authenticator app reads (usually from a QR code)."""
        return self._otp(secret).provisioning_uri(name=account_name, issuer_name=self.issuer)

    def verify(self, secret: str, code: object, *, last_step: int | None) -> int | None:
        """The time step ``code`` belongs to, or None if it is refused.

        Refused, without raising: a wrong code; a code from outside the window;
        input that is not exactly ``digits`` ASCII digits once spaces are
        removed (or not a string at all); and a replay — a code whose step is
        not later than ``last_step``, the step the user's previous accepted
        code returned. Store the returned step as the new ``last_step``.

        Raises:
            ValueError: ``secret`` is not a valid base32 secret (a stored
                value is corrupt; not the user's fault).
        """
        candidate = _normalise_code(code, self.digits)
        if candidate is None:
            return None
        otp = self._otp(secret)
        now = otp.timecode(self.clock())
        matched: int | None = None
        # Every step of the window is compared (in constant time), so the work done
        # does not depend on which step matched.
        for step in range(now - self.valid_window, now + self.valid_window + 1):
            if step < 0:
                continue
            valid = hmac.compare_digest(otp.generate_otp(step), candidate)
            if valid and (last_step is None or step > last_step) and matched is None:
                matched = step
        return matched


def _normalise_code(code: object, digits: int) -> str | None:
    if not isinstance(code, str) or len(code) > _MAX_CODE_CHARS:
        return None
    compact = "".join(code.split())  # "123 456" as apps show it
    if len(compact) != digits or not (compact.isascii() and compact.isdigit()):
        return None
    return compact


# -- recovery codes -------------------------------------------------------------------

RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
"""Crockford's base32 in lower case: no i, l, o or u, so nothing reads as another character."""

_RECOVERY_GROUPS = 3
_RECOVERY_GROUP_CHARS = 4
_RECOVERY_CHARS = _RECOVERY_GROUPS * _RECOVERY_GROUP_CHARS  # 12 x 5 bits = 60 random bits
_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})
_HASH_PREFIX = "sha256:"


def new_recovery_codes(count: int = 10) -> list[str]:
    """``count`` fresh recovery codes like ``7hq2-mx0c-r4vd``: 60 random bits each.

    Show them to the user once; keep only :func:`hash_recovery_code` of each.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    codes = []
    for _ in range(count):
        chars = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(_RECOVERY_CHARS))
        size = _RECOVERY_GROUP_CHARS
        groups = [chars[i : i + size] for i in range(0, _RECOVERY_CHARS, size)]
        codes.append("-".join(groups))
    return codes


def _normalise_recovery_code(code: object) -> str | None:
    """The code's canonical characters, or None if it cannot be a recovery code.

    Case, spaces and hyphens do not matter, and the look-alikes Crockford's
    alphabet leaves out are read as what the user meant (``o`` as ``0``, ``i``
    and ``l`` as ``1``).
    """
    if not isinstance(code, str) or len(code) > _MAX_CODE_CHARS:
        return None
    compact = "".join(code.split()).replace("-", "").lower().translate(_LOOKALIKES)
    if len(compact) != _RECOVERY_CHARS or any(c not in RECOVERY_ALPHABET for c in compact):
        return None
    return compact


def hash_recovery_code(code: str) -> str:
    """The value to store for ``code``: ``"sha256:<hex>"`` of its normalised form.

    A plain SHA-256 is enough here, unlike for passwords: a recovery code is
    60 random bits chosen by :func:`secrets`, not by a person, so there is no
    dictionary to try and a brute force of 2**60 hashes per code is out of
    reach; a slow hash (argon2) would only slow down every login with a code.
    The store also keeps the hashes encrypted.

    Raises:
        ValueError: ``code`` is not shaped like a recovery code.
    """
    normalised = _normalise_recovery_code(code)
    if normalised is None:
        raise ValueError("not a recovery code")
    return _HASH_PREFIX + hashlib.sha256(normalised.encode("ascii")).hexdigest()


def match_recovery_code(code: object, hashes: Sequence[str]) -> str | None:
    """The stored hash among ``hashes`` that ``code`` matches, or None.

    Malformed input is None, not an exception. Every hash is compared in
    constant time, and all of them are compared, so timing does not tell which
    (or whether one) matched. Remove the returned hash: each code works once.
    """
    normalised = _normalise_recovery_code(code)
    if normalised is None:
        return None
    digest = _HASH_PREFIX + hashlib.sha256(normalised.encode("ascii")).hexdigest()
    found: str | None = None
    for stored in hashes:
        if hmac.compare_digest(stored.encode(), digest.encode()) and found is None:
            found = stored
    return found
