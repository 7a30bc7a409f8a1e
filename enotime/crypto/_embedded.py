"""The embedded crypto engine: Vault transit's behaviour on a laptop, nothing installed.

Built only from ``cryptography`` primitives (AES-256-GCM, HKDF-SHA256,
HMAC-SHA256, Ed25519). The keyring lives on disk encrypted under a random
256-bit master key that exists only in memory while unsealed and is otherwise
split into Shamir shares (see :mod:`enotime.crypto._shamir`).

Concurrency: key operations (encrypt, hmac, sign...) take microseconds and
run on the event loop without awaiting, so "break glass" :meth:`seal` can never
interleave with one half-done; everything that touches the disk or rebuilds
the master key runs in a worker thread under one lock.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from enotime.crypto._errors import (
    AlreadyInitialized,
    EngineUnavailable,
    InvalidCiphertext,
    InvalidRequest,
    InvalidShare,
    KeyNotFound,
    KeyVersionDisallowed,
    MalformedCiphertext,
    NotInitialized,
    Sealed,
    WrongKeyType,
)
from enotime.crypto._keyring import KeyringFile, KeyringHeader, keyring_cipher
from enotime.crypto._port import (
    AbstractCryptoEngine,
    DataKey,
    KeyInfo,
    KeyType,
    SealStatus,
    UnsealProgress,
    check_key_name,
    parse_versioned,
)
from enotime.crypto._shamir import (
    MAX_SHARES,
    combine_secret,
    decode_share,
    encode_share,
    split_secret,
)

__all__ = ["PREFIX", "EmbeddedCryptoEngine"]

logger = logging.getLogger("enotime.crypto")

PREFIX = "enotime"
"""Values made by this engine read ``enotime:v<N>:<base64>`` (Vault's read ``vault:v<N>:``)."""

_NONCE_BYTES = 12  # 96-bit random nonce per encryption, as AES-GCM wants
_DATA_KEY_BITS = (128, 256, 512)
_T = TypeVar("_T")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True, repr=False)
class _Version:
    key: bytes  # AES-256 key, or Ed25519 private seed
    hmac_key: bytes
    created: str

    @classmethod
    def generate(cls) -> _Version:
        return cls(
            key=secrets.token_bytes(32),
            hmac_key=secrets.token_bytes(32),
            created=datetime.now(UTC).isoformat(),
        )


@dataclass(frozen=True, slots=True, repr=False)
class _Key:
    type: KeyType
    derived: bool
    min_decryption_version: int
    versions: dict[int, _Version]

    @property
    def latest(self) -> int:
        return max(self.versions)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "derived": self.derived,
            "min_decryption_version": self.min_decryption_version,
            "versions": {
                str(n): {"key": _b64(v.key), "hmac_key": _b64(v.hmac_key), "created": v.created}
                for n, v in self.versions.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Key:
        return cls(
            type=KeyType(data["type"]),
            derived=bool(data["derived"]),
            min_decryption_version=int(data["min_decryption_version"]),
            versions={
                int(n): _Version(
                    key=base64.b64decode(v["key"]),
                    hmac_key=base64.b64decode(v["hmac_key"]),
                    created=str(v["created"]),
                )
                for n, v in data["versions"].items()
            },
        )


@dataclass(slots=True, repr=False)
class _Unsealed:
    """Everything that exists only while unsealed."""

    master: bytearray
    cipher: AESGCM
    header: KeyringHeader
    keys: dict[str, _Key] = field(default_factory=dict)
    ciphers: dict[bytes, AESGCM] = field(default_factory=dict)
    """AESGCM objects by key material: building one costs as much as using it."""

    def wipe(self) -> None:
        # Best effort: CPython cannot promise no copy of a secret survives
        # elsewhere in memory, but we drop every reference we hold at once.
        for i in range(len(self.master)):
            self.master[i] = 0
        self.keys.clear()
        self.ciphers.clear()


class EmbeddedCryptoEngine(AbstractCryptoEngine):
    """Vault-transit-like engine over a keyring directory on local disk.

    Starts sealed. Lifecycle: :meth:`initialize` once (prints nothing, returns
    the shares), then :meth:`submit_unseal_share` from ``threshold`` share
    holders, then use it; :meth:`seal` at any time.

    Args:
        directory: Where the keyring file lives (created on init, mode 0700).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._file = KeyringFile(Path(directory))
        self._header: KeyringHeader | None = None
        self._state: _Unsealed | None = None
        self._pending: dict[int, bytes] = {}
        self._seal_epoch = 0
        self._lock = asyncio.Lock()

    @property
    def directory(self) -> Path:
        """The keyring directory."""
        return self._file.directory

    def __repr__(self) -> str:
        state = "unsealed" if self._state is not None else "sealed"
        return f"<EmbeddedCryptoEngine {str(self.directory)!r} {state}>"

    # -- seal lifecycle ----------------------------------------------------------

    async def initialize(self, shares: int, threshold: int) -> list[str]:
        """Create the keyring and return its ``shares`` printable unseal shares.

        The engine stays sealed afterwards, as Vault does. The shares are not
        stored anywhere: hand each to a different person now.

        Raises:
            AlreadyInitialized: A keyring exists in the directory.
            InvalidRequest: Not ``1 <= threshold <= shares <= 255``, or a
                threshold of 1 with several shares (each share would be the key).
        """
        if not 1 <= threshold <= shares <= MAX_SHARES:
            raise InvalidRequest(f"need 1 <= threshold <= shares <= {MAX_SHARES}")
        if shares > 1 and threshold < 2:
            raise InvalidRequest("with several shares the threshold must be at least 2")
        async with self._lock:
            header = KeyringHeader(secrets.token_hex(8), shares, threshold)
            master = AESGCM.generate_key(bit_length=256)

            def create() -> list[tuple[int, bytes]]:
                self._file.write(keyring_cipher(master, header), header, {"keys": {}}, create=True)
                return split_secret(master, shares, threshold)

            try:
                points = await asyncio.to_thread(create)
            except FileExistsError as exc:
                raise AlreadyInitialized(f"a keyring already exists in {self.directory}") from exc
            except OSError as exc:
                raise EngineUnavailable(f"cannot write the keyring in {self.directory}") from exc
            self._header = header
            logger.info(
                "crypto keyring %s initialised in %s: %d shares, threshold %d",
                header.keyring_id,
                self.directory,
                shares,
                threshold,
            )
            return [encode_share(header.keyring_id, i, value) for i, value in points]

    async def submit_unseal_share(self, share: str) -> UnsealProgress:
        """Submit one share; the ``threshold``-th distinct valid share unseals.

        Submitting to an unsealed engine does nothing and reports it unsealed.

        Raises:
            NotInitialized: No keyring in the directory.
            InvalidShare: See :class:`~enotime.crypto.InvalidShare`. A bad share
                is refused without touching progress; a full set that does not
                open the keyring resets progress to zero.
            Sealed: :meth:`seal` was called while the keyring was being opened.
        """
        async with self._lock:
            header = await self._load_header()
            if self._state is not None:
                return UnsealProgress(sealed=False, progress=0, threshold=header.threshold)
            parsed = decode_share(share, keyring_id=header.keyring_id, shares=header.shares)
            if parsed.index in self._pending:
                raise InvalidShare(
                    f"share #{parsed.index} was already submitted; "
                    f"progress stays {len(self._pending)}/{header.threshold}"
                )
            self._pending[parsed.index] = parsed.value
            if len(self._pending) < header.threshold:
                logger.info("crypto unseal progress %d/%d", len(self._pending), header.threshold)
                return UnsealProgress(True, len(self._pending), header.threshold)
            points = sorted(self._pending.items())
            self._pending.clear()
            epoch = self._seal_epoch
            try:
                state = await asyncio.to_thread(self._open, header, points)
            except InvalidTag:
                logger.warning("crypto unseal failed: the shares do not open the keyring")
                raise InvalidShare(
                    "these shares do not open this keyring (a share is wrong, or the keyring "
                    "file was altered); progress was reset to 0"
                ) from None
            if epoch != self._seal_epoch:
                state.wipe()
                raise Sealed("the engine was sealed while unsealing; submit the shares again")
            self._state = state
            logger.warning("crypto engine unsealed (keyring %s)", header.keyring_id)
            return UnsealProgress(sealed=False, progress=0, threshold=header.threshold)

    async def seal(self) -> None:
        """Break glass: wipe the master key and keyring from memory at once.

        Takes effect before this coroutine's first suspension point (it has
        none): every operation that has not finished raises ``Sealed``.
        Also discards unseal progress.
        """
        self._seal_epoch += 1
        state, self._state = self._state, None
        self._pending.clear()
        if state is not None:
            state.wipe()
            logger.warning("crypto engine sealed (break glass)")

    async def status(self) -> SealStatus:
        """The seal state (reads the keyring header from disk when sealed)."""
        try:
            header = await self._load_header()
        except NotInitialized:
            return SealStatus(initialized=False, sealed=True, progress=0, threshold=0, shares=0)
        return SealStatus(
            initialized=True,
            sealed=self._state is None,
            progress=len(self._pending),
            threshold=header.threshold,
            shares=header.shares,
        )

    # -- keys --------------------------------------------------------------------

    async def create_key(
        self, name: str, type: KeyType = KeyType.AES256_GCM96, *, derived: bool = False
    ) -> None:
        """See :meth:`AbstractCryptoEngine.create_key`.

        Stricter than Vault: an existing name with another type or derivation
        raises :class:`WrongKeyType` instead of silently keeping the old key.
        """
        check_key_name(name)
        try:
            key_type = KeyType(type)
        except ValueError:
            raise InvalidRequest(f"unsupported key type {type!r}") from None
        if derived and key_type is not KeyType.AES256_GCM96:
            raise InvalidRequest("only aes256-gcm96 keys can be derived")

        def change(keys: dict[str, _Key]) -> None:
            existing = keys.get(name)
            if existing is not None:
                if existing.type is not key_type or existing.derived != derived:
                    raise WrongKeyType(
                        f"key {name!r} already exists as {existing.type.value}"
                        f"{' (derived)' if existing.derived else ''}"
                    )
                return
            keys[name] = _Key(key_type, derived, 1, {1: _Version.generate()})

        await self._mutate(change, f"create key {name!r}")

    async def key_info(self, name: str) -> KeyInfo:
        """See :meth:`AbstractCryptoEngine.key_info`."""
        key = self._key(name)
        return KeyInfo(
            name=name,
            type=key.type,
            derived=key.derived,
            latest_version=key.latest,
            min_decryption_version=key.min_decryption_version,
            versions=tuple(v for v in sorted(key.versions) if v >= key.min_decryption_version),
        )

    async def rotate(self, name: str) -> int:
        """See :meth:`AbstractCryptoEngine.rotate`."""
        check_key_name(name)

        def change(keys: dict[str, _Key]) -> int:
            key = keys.get(name)
            if key is None:
                raise KeyNotFound(f"no key named {name!r}")
            latest = key.latest + 1
            keys[name] = _Key(
                key.type,
                key.derived,
                key.min_decryption_version,
                {**key.versions, latest: _Version.generate()},
            )
            return latest

        version = await self._mutate(change, f"rotate key {name!r}")
        logger.info("crypto key %r rotated to version %d", name, version)
        return version

    async def set_min_decryption_version(self, name: str, version: int) -> None:
        """See :meth:`AbstractCryptoEngine.set_min_decryption_version`."""
        check_key_name(name)

        def change(keys: dict[str, _Key]) -> None:
            key = keys.get(name)
            if key is None:
                raise KeyNotFound(f"no key named {name!r}")
            if not 1 <= version <= key.latest:
                raise InvalidRequest(
                    f"min_decryption_version of {name!r} must be within 1..{key.latest}"
                )
            keys[name] = _Key(key.type, key.derived, version, key.versions)

        await self._mutate(change, f"set min decryption version of {name!r}")

    async def public_keys(self, name: str) -> dict[int, bytes]:
        """See :meth:`AbstractCryptoEngine.public_keys`."""
        key = self._key(name, KeyType.ED25519)
        return {
            n: Ed25519PrivateKey.from_private_bytes(v.key)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
            for n, v in sorted(key.versions.items())
            if n >= key.min_decryption_version
        }

    # -- symmetric -----------------------------------------------------------------

    async def encrypt(self, name: str, plaintext: bytes, context: bytes | None = None) -> str:
        """See :meth:`AbstractCryptoEngine.encrypt`."""
        key = self._key(name, KeyType.AES256_GCM96)
        return self._encrypt(key, plaintext, context)

    async def decrypt(self, name: str, ciphertext: str, context: bytes | None = None) -> bytes:
        """See :meth:`AbstractCryptoEngine.decrypt`."""
        key = self._key(name, KeyType.AES256_GCM96)
        return self._decrypt(name, key, ciphertext, context)

    async def rewrap(self, name: str, ciphertext: str, context: bytes | None = None) -> str:
        """See :meth:`AbstractCryptoEngine.rewrap`."""
        key = self._key(name, KeyType.AES256_GCM96)
        return self._encrypt(key, self._decrypt(name, key, ciphertext, context), context)

    async def generate_data_key(
        self, name: str, bits: int = 256, context: bytes | None = None
    ) -> DataKey:
        """See :meth:`AbstractCryptoEngine.generate_data_key`."""
        if bits not in _DATA_KEY_BITS:
            raise InvalidRequest(f"bits must be one of {_DATA_KEY_BITS}")
        key = self._key(name, KeyType.AES256_GCM96)
        plaintext = secrets.token_bytes(bits // 8)
        return DataKey(plaintext, self._encrypt(key, plaintext, context))

    # -- HMAC and signatures -----------------------------------------------------------

    async def hmac(self, name: str, data: bytes) -> str:
        """See :meth:`AbstractCryptoEngine.hmac`."""
        key = self._key(name)
        version = key.latest
        return f"{PREFIX}:v{version}:{_b64(self._mac(key, version, data).finalize())}"

    async def verify_hmac(self, name: str, data: bytes, hmac: str) -> bool:
        """See :meth:`AbstractCryptoEngine.verify_hmac`."""
        key = self._key(name)
        version, mac = self._parse(name, key, hmac)
        if version not in key.versions:
            return False
        try:
            self._mac(key, version, data).verify(mac)  # constant-time comparison
        except InvalidSignature:
            return False
        return True

    async def sign(self, name: str, data: bytes) -> str:
        """See :meth:`AbstractCryptoEngine.sign`."""
        key = self._key(name, KeyType.ED25519)
        version = key.latest
        signer = Ed25519PrivateKey.from_private_bytes(key.versions[version].key)
        return f"{PREFIX}:v{version}:{_b64(signer.sign(data))}"

    async def verify(self, name: str, data: bytes, signature: str) -> bool:
        """See :meth:`AbstractCryptoEngine.verify`."""
        key = self._key(name, KeyType.ED25519)
        version, raw = self._parse(name, key, signature)
        if version not in key.versions:
            return False
        public = Ed25519PrivateKey.from_private_bytes(key.versions[version].key).public_key()
        try:
            public.verify(raw, data)
        except InvalidSignature:
            return False
        return True

    # -- internals -------------------------------------------------------------------------

    def _unsealed(self) -> _Unsealed:
        if self._state is None:
            if self._header is None and not self._file.exists():
                raise NotInitialized(f"no crypto keyring in {self.directory}: run init first")
            raise Sealed("the crypto engine is sealed: unseal it with a threshold of shares")
        return self._state

    def _key(self, name: str, required: KeyType | None = None) -> _Key:
        key = self._unsealed().keys.get(check_key_name(name))
        if key is None:
            raise KeyNotFound(f"no key named {name!r}")
        if required is not None and key.type is not required:
            raise WrongKeyType(f"key {name!r} is {key.type.value}; this needs {required.value}")
        return key

    def _aead(self, key: _Key, version: int, context: bytes | None) -> AESGCM:
        material = key.versions[version].key
        if not key.derived and context is None:
            ciphers = self._unsealed().ciphers
            cipher = ciphers.get(material)
            if cipher is None:
                cipher = ciphers[material] = AESGCM(material)
            return cipher
        if key.derived:
            if not context:
                raise InvalidRequest("this key is derived: pass a non-empty context")
            # As Vault does for derived keys: HKDF-SHA256 with the context as info.
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=context)
            material = hkdf.derive(material)
        elif context is not None:
            raise InvalidRequest("a context is only accepted by derived keys")
        return AESGCM(material)

    def _encrypt(self, key: _Key, plaintext: bytes, context: bytes | None) -> str:
        version = key.latest
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead(key, version, context).encrypt(nonce, plaintext, None)
        return f"{PREFIX}:v{version}:{_b64(nonce + sealed)}"

    def _decrypt(self, name: str, key: _Key, ciphertext: str, context: bytes | None) -> bytes:
        version, payload = self._parse(name, key, ciphertext)
        if version not in key.versions:
            raise InvalidCiphertext(f"key {name!r} has no version {version}")
        aead = self._aead(key, version, context)
        if len(payload) < _NONCE_BYTES + 16:
            raise InvalidCiphertext("ciphertext too short to be authentic")
        try:
            return aead.decrypt(payload[:_NONCE_BYTES], payload[_NONCE_BYTES:], None)
        except InvalidTag:
            raise InvalidCiphertext(
                f"ciphertext does not authenticate under key {name!r} v{version} "
                "(tampered, another key, or another context)"
            ) from None

    @staticmethod
    def _parse(name: str, key: _Key, value: str) -> tuple[int, bytes]:
        prefix, version, payload = parse_versioned(value)
        if prefix != PREFIX:
            raise MalformedCiphertext(f"not a value of this engine (prefix {prefix!r})")
        if version < key.min_decryption_version:
            raise KeyVersionDisallowed(
                f"key {name!r} v{version} is below min_decryption_version "
                f"{key.min_decryption_version}"
            )
        return version, payload

    @staticmethod
    def _mac(key: _Key, version: int, data: bytes) -> crypto_hmac.HMAC:
        mac = crypto_hmac.HMAC(key.versions[version].hmac_key, hashes.SHA256())
        mac.update(data)
        return mac

    async def _mutate(self, change: Callable[[dict[str, _Key]], _T], what: str) -> _T:
        """Apply ``change`` to a copy of the keys, persist it, then swap it in."""
        async with self._lock:
            state = self._unsealed()
            keys = dict(state.keys)
            result = change(keys)
            if keys.keys() == state.keys.keys() and all(keys[n] is state.keys[n] for n in keys):
                return result  # nothing changed (e.g. create_key of an existing key)
            document = {"keys": {name: key.to_json() for name, key in keys.items()}}
            try:
                await asyncio.to_thread(
                    self._file.write, state.cipher, state.header, document, create=False
                )
            except OSError as exc:
                raise EngineUnavailable(f"cannot write the keyring to {self.directory}") from exc
            if self._state is not state:
                raise Sealed(f"the engine was sealed during {what}; the change was persisted")
            state.keys = keys
            return result

    async def _load_header(self) -> KeyringHeader:
        if self._header is None:
            try:
                self._header = await asyncio.to_thread(self._file.read_header)
            except FileNotFoundError:
                raise NotInitialized(
                    f"no crypto keyring in {self.directory}: run init first"
                ) from None
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise EngineUnavailable(f"the keyring in {self.directory} is unreadable") from exc
        return self._header

    def _open(self, header: KeyringHeader, points: list[tuple[int, bytes]]) -> _Unsealed:
        """Rebuild the master key and decrypt the keyring (in a worker thread)."""
        master = bytearray(combine_secret(points))
        cipher = keyring_cipher(bytes(master), header)
        try:
            data = self._file.open(cipher, header)
        except InvalidTag:
            for i in range(len(master)):
                master[i] = 0
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EngineUnavailable(f"the keyring in {self.directory} is unreadable") from exc
        keys = {name: _Key.from_json(raw) for name, raw in data["keys"].items()}
        return _Unsealed(master=master, cipher=cipher, header=header, keys=keys)
