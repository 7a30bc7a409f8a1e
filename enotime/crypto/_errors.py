"""Errors raised by crypto engines, documented by contrast.

Every engine (embedded or Vault) raises exactly these, so callers never see an
``hvac`` or ``cryptography`` exception for a condition listed here.
"""

from __future__ import annotations

from enotime.errors import EnotimeError

__all__ = [
    "AccessDenied",
    "AlreadyInitialized",
    "CryptoError",
    "EngineUnavailable",
    "InvalidCiphertext",
    "InvalidRequest",
    "InvalidShare",
    "KeyNotFound",
    "KeyVersionDisallowed",
    "MalformedCiphertext",
    "NotInitialized",
    "Sealed",
    "WrongKeyType",
]


class CryptoError(EnotimeError):
    """Root of every error a crypto engine raises on purpose."""


class Sealed(CryptoError):
    """The engine is sealed: it holds no key material and refuses every key operation.

    Raised by every operation while sealed, including operations that were
    already waiting when "break glass" sealed the engine. Recover by unsealing
    with a threshold of shares. Not :class:`NotInitialized` (a keyring that was
    never created) and not :class:`EngineUnavailable` (Vault unreachable).
    """


class NotInitialized(CryptoError):
    """The engine has no keyring yet: run ``enotime crypto init`` (or Vault's init) first.

    Not :class:`Sealed`: a sealed engine has a keyring it cannot open yet.
    """


class AlreadyInitialized(CryptoError):
    """``initialize`` was called on an engine whose keyring already exists.

    Raised instead of overwriting: a second init would orphan every key and
    every ciphertext made with them.
    """


class InvalidShare(CryptoError):
    """An unseal share was refused.

    Raised for a share that is malformed, mistyped (its checksum fails),
    belongs to another keyring, repeats one already submitted, or -- once the
    threshold is reached -- for a set of shares that does not open the
    keyring, in which case the progress is reset to zero. Not :class:`Sealed`,
    which is about using the engine, not unsealing it.
    """


class KeyNotFound(CryptoError):
    """The named key does not exist in the engine.

    Not :class:`InvalidCiphertext`: that one means the key exists but the
    ciphertext cannot be opened with it.
    """


class InvalidRequest(CryptoError, ValueError):
    """The engine refused the arguments: a bad key name, unsupported bit length,
    a context where none is allowed (or missing where one is required), a
    minimum decryption version outside ``1..latest_version``.

    Also a :class:`ValueError`, since the caller passed a bad value.
    """


class WrongKeyType(InvalidRequest):
    """The named key exists but its type cannot do the operation asked.

    For example ``sign`` with an ``aes256-gcm96`` key or ``encrypt`` with an
    ``ed25519`` key, or ``create_key`` for an existing name with another type.
    Not :class:`KeyNotFound`: the key is there, it is the wrong kind.
    """


class InvalidCiphertext(CryptoError):
    """A well-formed ciphertext that this key cannot open.

    Raised by ``decrypt`` and ``rewrap`` when authentication fails: the
    ciphertext was tampered with, was made by another key,
    names a key version that does not exist, or was bound to another
    ``context``. The two subclasses below narrow the cause; catching this one
    catches all three.
    """


class MalformedCiphertext(InvalidCiphertext):
    """The value is not of the form ``<prefix>:v<N>:<base64>`` at all.

    Raised before any key is used, by ``decrypt``, ``rewrap``, ``verify`` and
    ``verify_hmac``. Not the plain :class:`InvalidCiphertext`, which is
    well-formed but fails authentication.
    """


class KeyVersionDisallowed(InvalidCiphertext):
    """The value was made with a key version below the key's ``min_decryption_version``.

    The key material still exists: raising the minimum is a policy, reversible
    by lowering it again, not an erasure. Raised by ``decrypt``, ``rewrap``,
    ``verify`` and ``verify_hmac``. Not :class:`MalformedCiphertext` (the value
    parses fine) and not a tampered value.
    """


class AccessDenied(CryptoError):
    """The production engine refused our credentials (Vault HTTP 401/403).

    The embedded engine never raises it. Not :class:`Sealed`: Vault is
    running and unsealed, but this token or AppRole may not do this.
    """


class EngineUnavailable(CryptoError):
    """The engine could not be reached or failed for a reason outside this list.

    Vault unreachable, timing out, answering 5xx while unsealed; an embedded
    keyring file that cannot be read or written. The original exception is
    chained as ``__cause__``.
    """
