"""Ed25519 signing keys for access tokens, each named by a ``kid``, and their JWKS."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

__all__ = ["JwtKeyring", "SigningKey"]

_RAW_KEY_BYTES = 32


def _new_kid() -> str:
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 key pair and its ``kid``; the private half never shows in ``repr``."""

    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def public_jwk(self) -> dict[str, Any]:
        """The public key as an RFC 7517 / RFC 8037 JWK, with ``kid``, ``alg`` and ``use``."""
        jwk = OKPAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {
            "kty": jwk["kty"],
            "crv": jwk["crv"],
            "x": jwk["x"],
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def raw_private_bytes(self) -> bytes:
        """The raw 32-byte private key: seal it before it goes anywhere."""
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )


class JwtKeyring:
    """The keys a login actor signs access tokens with; verifiers get only :meth:`jwks`.

    One key is *current* (it signs); older ones are kept so tokens they signed
    still verify until :meth:`retire` drops them. A new ring starts with one
    fresh key.

    Example:
        >>> ring = JwtKeyring()
        >>> old_kid = ring.current.kid
        >>> new_kid = ring.rotate()  # sign with a new key from now on
        >>> ring.retire(old_kid)  # once the old key's tokens have expired
    """

    def __init__(self) -> None:
        self._keys: dict[str, SigningKey] = {}
        self._current = ""
        self.rotate()

    @classmethod
    def from_keys(cls, keys: Iterable[tuple[str, bytes]], *, current: str) -> JwtKeyring:
        """Rebuild a ring from :meth:`export`'s ``(kid, raw private key)`` pairs.

        Raises:
            ValueError: A key is not 32 bytes, a kid repeats or is empty, or
                ``current`` is not among the kids.
        """
        ring = cls.__new__(cls)
        ring._keys = {}
        for kid, raw in keys:
            if not isinstance(kid, str) or not kid:
                raise ValueError("every key needs a non-empty string kid")
            if kid in ring._keys:
                raise ValueError(f"kid {kid!r} appears twice")
            if not isinstance(raw, bytes) or len(raw) != _RAW_KEY_BYTES:
                raise ValueError(f"key {kid!r} is not a raw 32-byte Ed25519 private key")
            ring._keys[kid] = SigningKey(kid, Ed25519PrivateKey.from_private_bytes(raw))
        if current not in ring._keys:
            raise ValueError(f"the current kid {current!r} is not among the keys")
        ring._current = current
        return ring

    @property
    def current(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._keys[self._current]

    @property
    def kids(self) -> tuple[str, ...]:
        """Every kid on the ring, oldest first (the current one among them)."""
        return tuple(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def rotate(self) -> str:
        """Make a new key current and return its kid; the previous keys stay for verifying."""
        kid = _new_kid()
        while kid in self._keys:  # pragma: no cover - 96 random bits
            kid = _new_kid()
        self._keys[kid] = SigningKey(kid, Ed25519PrivateKey.generate())
        self._current = kid
        return kid

    def retire(self, kid: str) -> None:
        """Drop a key: tokens it signed stop verifying once verifiers reload the JWKS.

        A no-op for a kid the ring does not hold.

        Raises:
            ValueError: ``kid`` is the current key (rotate first).
        """
        if kid == self._current:
            raise ValueError("the current key cannot be retired: rotate first")
        self._keys.pop(kid, None)

    def jwks(self) -> dict[str, Any]:
        """The public keys as an RFC 7517 JWK Set, for ``/.well-known/jwks.json``."""
        return {"keys": [key.public_jwk() for key in self._keys.values()]}

    def export(self) -> list[tuple[str, bytes]]:
        """Every ``(kid, raw 32-byte private key)``, oldest first, for sealing in a store."""
        return [(kid, key.raw_private_bytes()) for kid, key in self._keys.items()]

    def __repr__(self) -> str:
        return f"<JwtKeyring current={self._current!r} kids={len(self._keys)}>"
