"""Envelope keys: AES-256-GCM keys with ids, for encrypting every message end to end.

A keyring holds one *current* key (new messages) and any number of older ones
(messages still in flight during a rotation). Keys come from the crypto port
(a data key wrapped by a named engine key, shared between nodes in its wrapped
form) or, until a node has an engine, from an embedded source: an environment
variable or a file. See ``docs/wire.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enotime.transport._errors import DecryptionFailed, MalformedMessage, UnknownKey

if TYPE_CHECKING:
    from enotime.crypto._port import AbstractCryptoEngine

__all__ = ["NONCE_BYTES", "TAG_BYTES", "Keyring", "WireKey"]

NONCE_BYTES = 12
"""AES-GCM nonce length: 96 bits, random per message."""
TAG_BYTES = 16
"""AES-GCM authentication tag length, appended to the ciphertext."""

ENV_VAR = "ENOTIME_WIRE_KEYS"
_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class WireKey:
    """One 256-bit AES-GCM key and the id that names it in the ``enotime-kid`` header."""

    kid: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kid, str) or _KID.fullmatch(self.kid) is None:
            raise ValueError(f"invalid key id {self.kid!r}: use 1-64 of [A-Za-z0-9_.-]")
        if len(self.key) != 32:
            raise ValueError(f"key {self.kid!r} must be 32 bytes (AES-256), not {len(self.key)}")

    @classmethod
    def generate(cls, kid: str) -> WireKey:
        """A fresh random key (for tests and single-process use)."""
        return cls(kid, AESGCM.generate_key(bit_length=256))

    def encoded(self) -> str:
        """``kid:base64key``, the form :meth:`Keyring.from_env` reads."""
        return f"{self.kid}:{base64.b64encode(self.key).decode()}"


class Keyring:
    """The keys a transport encrypts with (the current one) and decrypts with (any).

    Example:
        >>> keyring = Keyring([WireKey.generate("k1")])
        >>> kid, sealed = keyring.seal(b"aad", b"secret")
        >>> keyring.open(kid, b"aad", sealed)
        b'secret'
    """

    def __init__(self, keys: Iterable[WireKey], current: str | None = None) -> None:
        """Hold ``keys``; ``current`` (default: the first) encrypts new messages."""
        self._keys: dict[str, WireKey] = {}
        for key in keys:
            if key.kid in self._keys:
                raise ValueError(f"key id {key.kid!r} appears twice")
            self._keys[key.kid] = key
        if not self._keys:
            raise ValueError("a keyring needs at least one key")
        self._current = next(iter(self._keys)) if current is None else current
        if self._current not in self._keys:
            raise ValueError(f"current key {current!r} is not in the keyring")
        self._ciphers = {kid: AESGCM(key.key) for kid, key in self._keys.items()}

    def __repr__(self) -> str:
        return f"Keyring(current={self._current!r}, kids={sorted(self._keys)!r})"

    @property
    def current(self) -> str:
        """The id of the key new messages are encrypted with."""
        return self._current

    @property
    def kids(self) -> tuple[str, ...]:
        """Every key id this keyring can decrypt."""
        return tuple(self._keys)

    def key(self, kid: str) -> WireKey:
        """The key named ``kid`` (to hand to another process, e.g. a worker in another language)."""
        try:
            return self._keys[kid]
        except KeyError:
            raise UnknownKey(f"key id {kid!r} is not in this keyring") from None

    # -- sources --------------------------------------------------------------------

    @classmethod
    def generate(cls, kid: str = "local") -> Keyring:
        """A keyring with one fresh random key: for one process, or tests."""
        return cls([WireKey.generate(kid)])

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read ``kid:base64key[,kid:base64key...]``; the first key is the current one.

        Raises:
            ValueError: The text is not of that form.
        """
        keys = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            kid, sep, encoded = item.partition(":")
            if not sep:
                raise ValueError("expected kid:base64key[,kid:base64key...]")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"key {kid!r} is not valid base64") from None
            keys.append(WireKey(kid, raw))
        return cls(keys)

    @classmethod
    def from_env(cls, variable: str = ENV_VAR) -> Keyring:
        """The embedded source: keys from an environment variable (see :meth:`parse`).

        Raises:
            KeyError: The variable is not set.
        """
        return cls.parse(os.environ[variable])

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        """The embedded source: ``{"current": kid, "keys": {kid: base64key}}`` in a JSON file.

        The file should be readable by the node's user only (mode 0600).
        """
        data = json.loads(Path(path).read_text())
        if not isinstance(data, Mapping) or not isinstance(data.get("keys"), Mapping):
            raise ValueError(f"{path}: expected an object with a 'keys' object")
        keys = [
            WireKey(kid, base64.b64decode(value, validate=True))
            for kid, value in data["keys"].items()
        ]
        return cls(keys, data.get("current"))

    @staticmethod
    async def new_data_key(engine: AbstractCryptoEngine, key_name: str) -> tuple[WireKey, str]:
        """Make a wire key with the crypto port; share the returned wrapped form, never the key.

        Every node turns the wrapped form back into the same key with
        :meth:`data_key` (the engine holds ``key_name``; the key id is derived
        from the wrapped form, so all nodes agree on it without a secret).
        """
        plaintext, wrapped = await engine.generate_data_key(key_name, bits=256)
        return WireKey(_data_key_id(wrapped), plaintext), wrapped

    @staticmethod
    async def data_key(engine: AbstractCryptoEngine, key_name: str, wrapped: str) -> WireKey:
        """Unwrap a data key made by :meth:`new_data_key` (on any node with the same engine key)."""
        return WireKey(_data_key_id(wrapped), await engine.decrypt(key_name, wrapped))

    # -- AES-GCM ----------------------------------------------------------------------

    def seal(self, aad: bytes, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt with the current key: ``(kid, nonce || ciphertext || tag)``."""
        nonce = os.urandom(NONCE_BYTES)
        return self._current, nonce + self._ciphers[self._current].encrypt(nonce, plaintext, aad)

    def open(self, kid: str, aad: bytes, sealed: bytes) -> bytes:
        """Decrypt and authenticate what :meth:`seal` made under ``aad``.

        Raises:
            UnknownKey: ``kid`` is not in this keyring.
            MalformedMessage: ``sealed`` is too short to hold a nonce and a tag.
            DecryptionFailed: Wrong key, tampered body, or different associated data.
        """
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKey(f"key id {kid!r} is not in this keyring")
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise MalformedMessage(f"body of {len(sealed)} bytes is too short for AES-GCM")
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionFailed(
                f"AES-GCM authentication failed under key {kid!r} "
                "(tampered, other key, or replayed under other routing metadata)"
            ) from None


def _data_key_id(wrapped: str) -> str:
    return "dk-" + hashlib.sha256(wrapped.encode()).hexdigest()[:16]
