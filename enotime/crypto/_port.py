"""The crypto port: the async interface every crypto engine implements.

The operations are those of HashiCorp Vault's transit secrets engine, named and
behaving as there, so that the embedded engine and the Vault adapter are
interchangeable behind one contract test suite.
"""

from __future__ import annotations

import abc
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from enotime.crypto._errors import InvalidRequest, MalformedCiphertext

__all__ = [
    "AbstractCryptoEngine",
    "DataKey",
    "KeyInfo",
    "KeyType",
    "SealStatus",
    "UnsealProgress",
    "VersionedValue",
    "parse_versioned",
]

_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_VERSIONED_HEAD = re.compile(r"(?P<prefix>[a-z]+):v(?P<version>[1-9][0-9]{0,9}):")


class KeyType(StrEnum):
    """Key types, spelled as Vault's transit engine spells them."""

    AES256_GCM96 = "aes256-gcm96"
    """Symmetric: encrypt, decrypt, rewrap, data keys, HMAC."""
    ED25519 = "ed25519"
    """Asymmetric signing: sign, verify, public keys, HMAC."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What an engine tells about a named key (never the key material).

    Attributes:
        name: The key's name.
        type: The key's type.
        derived: Whether every operation must pass a ``context`` (Vault's derived keys).
        latest_version: The version new ciphertexts, HMACs and signatures use.
        min_decryption_version: Values made with an older version are refused.
        versions: The versions still usable for decryption and verification,
            ascending (``min_decryption_version`` to ``latest_version``).
    """

    name: str
    type: KeyType
    derived: bool
    latest_version: int
    min_decryption_version: int
    versions: tuple[int, ...]


class DataKey(NamedTuple):
    """A fresh data key for envelope encryption: use ``plaintext``, store ``wrapped``.

    Unpacks as ``plaintext, wrapped = await engine.generate_data_key(name)``.
    ``await engine.decrypt(name, wrapped)`` gives ``plaintext`` back.
    """

    plaintext: bytes
    wrapped: str


@dataclass(frozen=True, slots=True)
class UnsealProgress:
    """Where unsealing stands after a share was accepted.

    Attributes:
        sealed: False once the threshold of valid shares opened the keyring.
        progress: Distinct valid shares held so far (0 once unsealed).
        threshold: Shares needed.
    """

    sealed: bool
    progress: int
    threshold: int


@dataclass(frozen=True, slots=True)
class SealStatus:
    """The seal state of an engine, as Vault's ``sys/seal-status`` reports it.

    Attributes:
        initialized: Whether a keyring exists.
        sealed: Whether the engine refuses key operations.
        progress: Shares submitted towards the next unseal.
        threshold: Shares needed to unseal (0 when not initialised).
        shares: Shares made at init (0 when not initialised).
    """

    initialized: bool
    sealed: bool
    progress: int
    threshold: int
    shares: int


class VersionedValue(NamedTuple):
    """A ciphertext, HMAC or signature string taken apart.

    Attributes:
        prefix: ``"enotime"`` (embedded engine) or ``"vault"`` (Vault).
        version: The key version that made the value.
        payload: The decoded bytes after the version.
    """

    prefix: str
    version: int
    payload: bytes


def parse_versioned(value: str) -> VersionedValue:
    """Take apart a ``<prefix>:v<N>:<base64>`` value from any engine.

    Useful to find which key version a stored ciphertext or blind index needs
    (for example to decide whether to ``rewrap`` it) without asking the engine.

    Raises:
        MalformedCiphertext: ``value`` does not have that form.
    """
    match = _VERSIONED_HEAD.match(value) if isinstance(value, str) else None
    if match is None or match.end() == len(value):
        raise MalformedCiphertext("not of the form '<prefix>:v<N>:<base64>'")
    try:
        # strict_mode: only the base64 alphabet and correct padding, as validate=True,
        # without a second regular-expression pass over the whole payload.
        payload = binascii.a2b_base64(value[match.end() :].encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise MalformedCiphertext("the part after the version is not valid base64") from exc
    return VersionedValue(match["prefix"], int(match["version"]), payload)


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid key name, else raise :class:`InvalidRequest`.

    Names go into file contents and Vault URLs, so they are kept to
    ``[A-Za-z0-9][A-Za-z0-9_.-]{0,127}``.
    """
    if not isinstance(name, str) or _KEY_NAME.fullmatch(name) is None:
        raise InvalidRequest(f"invalid key name {name!r}: use 1-128 of [A-Za-z0-9_.-]")
    return name


BATCHABLE: frozenset[str] = frozenset(
    {"encrypt", "decrypt", "rewrap", "hmac", "verify_hmac", "sign", "verify", "generate_data_key"}
)
"""What :meth:`AbstractCryptoEngine.batch` accepts: data operations, not key management."""


class AbstractCryptoEngine(abc.ABC):
    """The crypto port: Vault transit's operations, async.

    Ciphertexts, HMACs and signatures are strings ``<prefix>:v<N>:<base64>``
    carrying the key version that made them (see :func:`parse_versioned`).
    Every method raises :class:`~enotime.crypto.Sealed` while the engine is
    sealed and :class:`~enotime.crypto.KeyNotFound` for an unknown key.
    """

    # -- keys ---------------------------------------------------------------

    @abc.abstractmethod
    async def create_key(
        self, name: str, type: KeyType = KeyType.AES256_GCM96, *, derived: bool = False
    ) -> None:
        """Create a named key at version 1; a no-op if it already exists, as in Vault.

        Args:
            name: The key's name.
            type: What the key is for.
            derived: Require a ``context`` on every encrypt/decrypt/rewrap/data
                key, each context getting its own key derived with HKDF-SHA256
                (Vault's derived keys). Only for ``aes256-gcm96``.
        """

    @abc.abstractmethod
    async def key_info(self, name: str) -> KeyInfo:
        """Describe a named key."""

    @abc.abstractmethod
    async def rotate(self, name: str) -> int:
        """Add a new version to a key and return it; new values use it from now on."""

    @abc.abstractmethod
    async def set_min_decryption_version(self, name: str, version: int) -> None:
        """Refuse values made with key versions below ``version`` (reversible).

        Raises:
            InvalidRequest: ``version`` is not within ``1..latest_version``.
        """

    @abc.abstractmethod
    async def public_keys(self, name: str) -> dict[int, bytes]:
        """The raw 32-byte Ed25519 public keys of a signing key, by version.

        Only versions at or above ``min_decryption_version``: what a JWKS
        endpoint should publish.

        Raises:
            WrongKeyType: The key is not a signing key.
        """

    # -- symmetric ------------------------------------------------------------

    @abc.abstractmethod
    async def encrypt(self, name: str, plaintext: bytes, context: bytes | None = None) -> str:
        """Encrypt with the key's latest version (AES-256-GCM, random 96-bit nonce).

        Args:
            name: The key's name.
            plaintext: The bytes to encrypt.
            context: For derived keys (required there, refused elsewhere):
                binds the ciphertext to this value.

        Returns:
            ``<prefix>:v<N>:<base64>``.
        """

    @abc.abstractmethod
    async def decrypt(self, name: str, ciphertext: str, context: bytes | None = None) -> bytes:
        """Decrypt a value made by :meth:`encrypt`, :meth:`rewrap` or a data key.

        Raises:
            MalformedCiphertext: Not a ciphertext string at all.
            KeyVersionDisallowed: Made by a version below the minimum.
            InvalidCiphertext: Tampered, made by another key, or another context.
        """

    @abc.abstractmethod
    async def rewrap(self, name: str, ciphertext: str, context: bytes | None = None) -> str:
        """Re-encrypt under the latest key version; the plaintext never leaves the engine.

        Raises:
            The same errors as :meth:`decrypt`.
        """

    @abc.abstractmethod
    async def generate_data_key(
        self, name: str, bits: int = 256, context: bytes | None = None
    ) -> DataKey:
        """Make a random key of ``bits`` (128, 256 or 512) and its wrapped form.

        The wrapped form is an ordinary ciphertext of the named key: decrypt it
        to get the plaintext key back, rewrap it after a rotation.
        """

    # -- HMAC -------------------------------------------------------------------

    @abc.abstractmethod
    async def hmac(self, name: str, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` with the key's latest version, e.g. for blind indexes.

        The result is the same for the same data and version and changes when
        the key is rotated, so store it with its version (it is in the string).
        """

    @abc.abstractmethod
    async def verify_hmac(self, name: str, data: bytes, hmac: str) -> bool:
        """Whether ``hmac`` is the HMAC of ``data``, compared in constant time.

        Raises:
            MalformedCiphertext: ``hmac`` is not a versioned value.
            KeyVersionDisallowed: Made by a version below the minimum.
        """

    # -- signatures ---------------------------------------------------------------

    @abc.abstractmethod
    async def sign(self, name: str, data: bytes) -> str:
        """Ed25519 signature of ``data`` with the latest version of a signing key.

        The payload after the version is the raw 64-byte signature.
        """

    @abc.abstractmethod
    async def verify(self, name: str, data: bytes, signature: str) -> bool:
        """Whether ``signature`` is a valid signature of ``data`` by this key.

        Raises:
            MalformedCiphertext: ``signature`` is not a versioned value.
            KeyVersionDisallowed: Made by a version below the minimum.
        """

    # -- seal ------------------------------------------------------------------

    @abc.abstractmethod
    async def status(self) -> SealStatus:
        """The seal state; never raises :class:`~enotime.crypto.Sealed`."""

    @abc.abstractmethod
    async def seal(self) -> None:
        """Break glass: drop all key material at once; every later call raises ``Sealed``."""

    async def batch(self, operations: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Run several operations in order and return their results.

        ``operations`` are ``(method name, positional arguments)`` pairs, for
        example ``[("hmac", ("idx", b"a")), ("encrypt", ("k", b"b"))]``. Engines
        run them one by one; the crypto actor's client sends them as one
        message, so a caller pays one round trip for all of them. The first
        failure is raised; later operations do not run.

        Raises:
            InvalidRequest: An operation is not a data operation of this port.
        """
        results = []
        for name, args in operations:
            if name not in BATCHABLE:
                raise InvalidRequest(f"{name!r} cannot be batched")
            results.append(await getattr(self, name)(*args))
        return results

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release resources (threads, connections). Does not seal."""
