"""What the login actor keeps in the encrypted store, and how it finds it again.

Four document types; every field of each is private (sealed by the store
actor), so a copy of the database shows only ids, revisions and ciphertext:

- ``login.user`` (id ``usr-<random>``): ``email_lookup`` -- the only way to
  find a user by address -- is an HMAC of the normalised address under the
  login actor's own ``lookup_key``, which the store then blind-indexes again.
  The address itself is never given to the store: ``email`` holds it
  encrypted under ``email_key``, a key only the login actor uses, so whoever
  holds the store's keys still cannot read or confirm an address. Then the
  argon2id ``password`` hash, ``verified``, the lockout counters
  (``failures``, ``locked_until``), ``epoch`` (bumped to end every session),
  the personal ``account`` and ``mfa`` (TOTP secret encrypted under
  ``secret_key``, the last accepted time step, recovery-code hashes). One
  more ``login.user`` record, ``login-decoy``, is no one's: a failed login of
  an unknown address writes to it, as a wrong password writes its user's
  failure count, so that the two cannot be told apart by timing.
- ``login.token`` (id ``tok-<sha256 of the token>``): single-use mailed
  tokens and MFA challenges: ``purpose``, ``user``, ``expires_at``. Only the
  hash of a token is stored; a 256-bit random token needs no salt or stretching.
- ``login.session`` (id ``ses-<family>``): one refresh-token family: ``user``,
  ``account``, ``amr``, ``epoch``, ``expires_at``, ``current`` (hash of the
  live refresh token), ``used`` (hashes of spent ones, for reuse detection).
- ``login.state``: the signing keys (each private key encrypted under
  ``secret_key``) and the revocation list, so a restarted login actor signs
  with the same keys and still refuses what it revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

from enotime.store import DocumentType

__all__ = [
    "DECOY_ID",
    "DOCUMENT_TYPES",
    "KEYS_ID",
    "REVOCATIONS_ID",
    "SESSION",
    "STATE",
    "TOKEN",
    "USER",
    "new_secret",
    "new_user_id",
    "token_digest",
]

USER: Final = DocumentType("login.user", indexed=frozenset({"email_lookup"}))
TOKEN: Final = DocumentType("login.token")
SESSION: Final = DocumentType("login.session")
STATE: Final = DocumentType("login.state")

DOCUMENT_TYPES: Final[tuple[DocumentType, ...]] = (USER, TOKEN, SESSION, STATE)
"""The login actor's own document types (give them to the ``StoreService``)."""

DECOY_ID: Final = "login-decoy"
"""A ``login.user`` record that is no one's: failed logins of unknown users write to it."""
KEYS_ID: Final = "login-signing-keys"
REVOCATIONS_ID: Final = "login-revocations"


def new_user_id() -> str:
    """A random, opaque user id (the tokens' ``sub``): ``usr-`` and 128 bits in hex."""
    return f"usr-{secrets.token_hex(16)}"


def new_secret() -> str:
    """A fresh 256-bit URL-safe random token."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The SHA-256 of a random token, as stored in place of the token (hex)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
