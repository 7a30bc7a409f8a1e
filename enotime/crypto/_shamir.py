"""Shamir shares of a 256-bit master key, as printable strings.

The secret sharing itself is pycryptodome's ``Crypto.Protocol.SecretSharing.Shamir``
(GF(2^128), 16-byte secrets). A 32-byte key is shared as two independent
16-byte halves, each with its own random polynomial, and share ``i`` carries
both halves' points at ``x = i``: any ``t`` shares rebuild both halves, any
``t - 1`` reveal nothing about either. See docs/crypto.md.

Share string: ``enotime-share:v1:<keyring id>:<index>:<64 hex>:<check>``, where
``check`` is 4 bytes of SHA-256 over the rest: it catches typos before a wrong
share can spoil a whole unseal attempt. It is not a secret and proves nothing
about the key; only opening the keyring does.
"""

from __future__ import annotations

import hmac as _hmac
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from enotime.crypto._errors import InvalidShare

try:
    from Crypto.Protocol.SecretSharing import Shamir
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the embedded crypto engine needs pycryptodome: pip install "enotime[crypto]"'
    ) from exc

__all__ = ["MAX_SHARES", "Share", "combine_secret", "decode_share", "encode_share", "split_secret"]

MAX_SHARES = 255
"""Vault's limit too."""

_SECRET_BYTES = 32
_HALF = 16
_SHARE_RE = re.compile(
    r"enotime-share:v1:(?P<kid>[0-9a-f]{16}):(?P<index>[1-9][0-9]{0,2}):"
    r"(?P<value>[0-9a-f]{64}):(?P<check>[0-9a-f]{8})"
)


@dataclass(frozen=True, slots=True, repr=False)
class Share:
    """One decoded share: which keyring, which point, and its 32 bytes."""

    keyring_id: str
    index: int
    value: bytes

    def __repr__(self) -> str:  # never print share material in logs or tracebacks
        return f"Share(keyring_id={self.keyring_id!r}, index={self.index}, value=<hidden>)"


def split_secret(secret: bytes, shares: int, threshold: int) -> list[tuple[int, bytes]]:
    """Split a 32-byte secret into ``shares`` points, any ``threshold`` of which rebuild it."""
    if len(secret) != _SECRET_BYTES:
        raise ValueError("the secret must be 32 bytes")
    low = Shamir.split(threshold, shares, secret[:_HALF])
    high = Shamir.split(threshold, shares, secret[_HALF:])
    return [(i, a + b) for (i, a), (j, b) in zip(low, high, strict=True) if i == j]


def combine_secret(points: list[tuple[int, bytes]]) -> bytes:
    """Rebuild the 32-byte secret from exactly ``threshold`` distinct points.

    With the wrong points this returns a wrong secret, not an error: the caller
    must check it (the embedded engine tries to open the keyring with it).
    """
    low = Shamir.combine([(i, v[:_HALF]) for i, v in points])
    high = Shamir.combine([(i, v[_HALF:]) for i, v in points])
    return low + high


def _check(body: str) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"enotime-share-check\x00" + body.encode("ascii"))
    return digest.finalize()[:4].hex()


def encode_share(keyring_id: str, index: int, value: bytes) -> str:
    """The printable form of one share."""
    body = f"enotime-share:v1:{keyring_id}:{index}:{value.hex()}"
    return f"{body}:{_check(body)}"


def decode_share(text: str, *, keyring_id: str, shares: int) -> Share:
    """Parse and check a share for the keyring ``keyring_id`` made with ``shares`` shares.

    Raises:
        InvalidShare: Malformed, mistyped, from another keyring, or an index
            that this keyring never issued.
    """
    match = _SHARE_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidShare("malformed share: expected 'enotime-share:v1:...' as printed at init")
    body = text.strip().rsplit(":", 1)[0]
    if not _hmac.compare_digest(_check(body), match["check"]):
        raise InvalidShare("share checksum does not match: it was mistyped or truncated")
    if not _hmac.compare_digest(match["kid"], keyring_id):
        raise InvalidShare(
            f"share belongs to keyring {match['kid']}, not to this keyring ({keyring_id})"
        )
    index = int(match["index"])
    if not 1 <= index <= shares:
        raise InvalidShare(f"share index {index} was never issued (this keyring has {shares})")
    return Share(keyring_id, index, bytes.fromhex(match["value"]))
