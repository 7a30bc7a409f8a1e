"""The production crypto engine: HashiCorp Vault's transit secrets engine via hvac.

hvac is synchronous (requests underneath), so every call runs in this
engine's own small thread pool: a blocked event loop misses broker heartbeats.
Each worker thread has its own ``hvac.Client`` (``requests.Session`` is not
documented as thread-safe); they share one token.

Vault answers errors as HTTP status plus a list of messages; they are mapped to
:mod:`enotime.crypto` errors here, by status first and message second (the
messages are those of Vault's transit engine, see docs/crypto.md).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from enotime.crypto._errors import (
    AccessDenied,
    CryptoError,
    EngineUnavailable,
    InvalidCiphertext,
    InvalidRequest,
    KeyNotFound,
    KeyVersionDisallowed,
    MalformedCiphertext,
    NotInitialized,
    Sealed,
    WrongKeyType,
)
from enotime.crypto._port import (
    AbstractCryptoEngine,
    DataKey,
    KeyInfo,
    KeyType,
    SealStatus,
    check_key_name,
    parse_versioned,
)

try:
    import hvac
    import hvac.exceptions
    import requests
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError('the Vault crypto engine needs hvac: pip install "enotime[vault]"') from exc

__all__ = ["PREFIX", "AppRoleCredentials", "VaultCryptoEngine"]

logger = logging.getLogger("enotime.crypto")

PREFIX = "vault"
_DATA_KEY_BITS = (128, 256, 512)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, repr=False)
class AppRoleCredentials:
    """AppRole login: ``role_id`` and ``secret_id`` at ``auth/<mount_point>/login``."""

    role_id: str
    secret_id: str
    mount_point: str = "approle"

    def __repr__(self) -> str:
        return f"AppRoleCredentials(role_id={self.role_id!r}, mount_point={self.mount_point!r})"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _transit(client: hvac.Client) -> Any:
    # types-hvac leaves these methods untyped; their JSON answers are Any anyway.
    return client.secrets.transit


def _sys(client: hvac.Client) -> Any:
    return client.sys


def _messages(exc: hvac.exceptions.VaultError) -> str:
    errors = exc.errors if isinstance(exc.errors, list) else [str(exc.args[0] if exc.args else "")]
    return "; ".join(str(e) for e in errors if e)


def _map_error(exc: Exception, what: str) -> CryptoError:
    """Translate an hvac/requests exception into the port's errors."""
    if isinstance(exc, requests.RequestException):
        return EngineUnavailable(f"Vault unreachable during {what}: {exc}")
    if not isinstance(exc, hvac.exceptions.VaultError):  # pragma: no cover - defensive
        return EngineUnavailable(f"unexpected failure during {what}: {exc!r}")
    text = _messages(exc)
    lowered = text.lower()
    if isinstance(exc, hvac.exceptions.VaultDown):
        if "sealed" in lowered or not lowered:
            return Sealed(f"Vault is sealed ({what})")
        return EngineUnavailable(f"Vault unavailable during {what}: {text}")
    if isinstance(exc, hvac.exceptions.VaultNotInitialized):
        return NotInitialized(f"Vault is not initialised ({what})")
    if isinstance(exc, hvac.exceptions.Unauthorized | hvac.exceptions.Forbidden):
        return AccessDenied(f"Vault denied {what}: {text or 'permission denied'}")
    if isinstance(exc, hvac.exceptions.InvalidPath):
        return KeyNotFound(f"{what}: not found in Vault")
    if isinstance(exc, hvac.exceptions.InvalidRequest):
        if "too old" in lowered or "disallowed by policy" in lowered:
            return KeyVersionDisallowed(f"{what}: {text}")
        if "not found" in lowered:
            return KeyNotFound(f"{what}: {text}")
        if "not supported" in lowered or "does not support" in lowered or "unsupported" in lowered:
            return WrongKeyType(f"{what}: {text}")
        if "context" in lowered or "derived" in lowered:
            return InvalidRequest(f"{what}: {text}")
        if any(
            marker in lowered
            for marker in ("no prefix", "wrong number of fields", "could not be decoded", "base64")
        ):
            return MalformedCiphertext(f"{what}: {text}")
        if "ciphertext" in lowered or "authentication failed" in lowered or "decrypt" in lowered:
            return InvalidCiphertext(f"{what}: {text}")
        return InvalidRequest(f"{what}: {text}")
    return EngineUnavailable(f"Vault failed during {what}: {text}")


class VaultCryptoEngine(AbstractCryptoEngine):
    """The crypto port on Vault's transit engine (``/v1/<mount_point>/...``).

    Exactly one of ``token`` and ``approle`` is required. With AppRole the
    engine logs in on first use and logs in again once if Vault answers 403
    (the token expired), then retries the call.

    Seal/unseal of Vault itself is done with Vault's own tooling
    (``vault operator unseal``); :meth:`status` and :meth:`seal` map to
    ``sys/seal-status`` and ``sys/seal`` (the latter needs a ``sudo`` policy).

    Args:
        url: Vault's address, e.g. ``https://vault.internal:8200``.
        token: A Vault token.
        approle: AppRole credentials instead of a token.
        mount_point: Where the transit engine is mounted.
        namespace: Vault Enterprise namespace, if any.
        verify: TLS verification: ``True``, ``False`` or a CA bundle path.
        timeout: Seconds per HTTP request.
        max_workers: Threads (and so HTTP requests) in flight at once.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        approle: AppRoleCredentials | None = None,
        mount_point: str = "transit",
        namespace: str | None = None,
        verify: bool | str = True,
        timeout: int = 30,
        max_workers: int = 4,
    ) -> None:
        if (token is None) == (approle is None):
            raise ValueError("pass exactly one of token= and approle=")
        self._url = url
        self._token = token
        self._approle = approle
        self._mount = mount_point
        self._namespace = namespace
        self._verify = verify
        self._timeout = timeout
        self._local = threading.local()
        self._login_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="enotime-vault")

    def __repr__(self) -> str:
        return f"<VaultCryptoEngine {self._url!r} mount={self._mount!r}>"

    # -- plumbing --------------------------------------------------------------------

    def _client(self) -> hvac.Client:
        client: hvac.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = hvac.Client(
                url=self._url, verify=self._verify, timeout=self._timeout, namespace=self._namespace
            )
            self._local.client = client
        token = self._token if self._token is not None else self._login(stale=None)
        client.token = token
        return client

    def _login(self, stale: str | None) -> str:
        """AppRole login, once for all threads (skipped if another thread already did)."""
        assert self._approle is not None
        with self._login_lock:
            if self._token is not None and self._token != stale:
                return self._token
            client = hvac.Client(
                url=self._url, verify=self._verify, timeout=self._timeout, namespace=self._namespace
            )
            response = client.auth.approle.login(
                role_id=self._approle.role_id,
                secret_id=self._approle.secret_id,
                mount_point=self._approle.mount_point,
            )
            self._token = token = str(response["auth"]["client_token"])
            logger.info("logged in to Vault with AppRole %r", self._approle.role_id)
            return token

    def _blocking(self, call: Callable[[hvac.Client], _T], what: str) -> _T:
        try:
            client = self._client()
            try:
                return call(client)
            except hvac.exceptions.Forbidden:
                if self._approle is None:
                    raise
                client.token = self._login(stale=client.token)
                return call(client)
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            raise _map_error(exc, what) from exc

    async def _run(self, call: Callable[[hvac.Client], _T], what: str) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._blocking, call, what)
        )

    @staticmethod
    def _data(response: Any) -> Mapping[str, Any]:
        if not isinstance(response, Mapping) or not isinstance(response.get("data"), Mapping):
            raise EngineUnavailable("Vault answered without a 'data' object")
        return response["data"]  # type: ignore[no-any-return]

    @staticmethod
    def _check_value(value: str) -> None:
        prefix = parse_versioned(value).prefix
        if prefix != PREFIX:
            raise MalformedCiphertext(f"not a Vault value (prefix {prefix!r})")

    @staticmethod
    def _context(body: dict[str, Any], context: bytes | None) -> dict[str, Any]:
        if context is not None:
            body["context"] = _b64(context)
        return body

    # -- keys ----------------------------------------------------------------------------

    async def create_key(
        self, name: str, type: KeyType = KeyType.AES256_GCM96, *, derived: bool = False
    ) -> None:
        """``POST /v1/transit/keys/:name``. A no-op for an existing name, as Vault does."""
        check_key_name(name)
        try:
            key_type = KeyType(type)
        except ValueError:
            raise InvalidRequest(f"unsupported key type {type!r}") from None
        await self._run(
            lambda c: _transit(c).create_key(
                name=name,
                key_type=key_type.value,
                derived=derived or None,
                mount_point=self._mount,
            ),
            f"create key {name!r}",
        )

    async def _read_key(self, name: str) -> Mapping[str, Any]:
        check_key_name(name)
        response = await self._run(
            lambda c: _transit(c).read_key(name=name, mount_point=self._mount),
            f"read key {name!r}",
        )
        return self._data(response)

    async def key_info(self, name: str) -> KeyInfo:
        """``GET /v1/transit/keys/:name``."""
        data = await self._read_key(name)
        try:
            key_type = KeyType(data["type"])
        except ValueError:
            raise WrongKeyType(f"key {name!r} has type {data['type']!r}, unknown here") from None
        minimum = max(1, int(data.get("min_decryption_version", 1)))
        return KeyInfo(
            name=name,
            type=key_type,
            derived=bool(data.get("derived", False)),
            latest_version=int(data["latest_version"]),
            min_decryption_version=minimum,
            versions=tuple(sorted(int(v) for v in data["keys"] if int(v) >= minimum)),
        )

    async def rotate(self, name: str) -> int:
        """``POST /v1/transit/keys/:name/rotate``, then the new latest version."""
        check_key_name(name)
        response = await self._run(
            lambda c: _transit(c).rotate_key(name=name, mount_point=self._mount),
            f"rotate key {name!r}",
        )
        # Vault >= 1.13 answers the key; older ones 204 No Content.
        if isinstance(response, Mapping) and isinstance(response.get("data"), Mapping):
            return int(response["data"]["latest_version"])
        return (await self.key_info(name)).latest_version

    async def set_min_decryption_version(self, name: str, version: int) -> None:
        """``POST /v1/transit/keys/:name/config`` with ``min_decryption_version``."""
        if version < 1:
            raise InvalidRequest("min_decryption_version must be at least 1")
        latest = (await self.key_info(name)).latest_version
        if version > latest:
            raise InvalidRequest(f"min_decryption_version of {name!r} must be within 1..{latest}")
        await self._run(
            lambda c: _transit(c).update_key_configuration(
                name=name, min_decryption_version=version, mount_point=self._mount
            ),
            f"configure key {name!r}",
        )

    async def public_keys(self, name: str) -> dict[int, bytes]:
        """The ``public_key`` of each version in ``GET /v1/transit/keys/:name``."""
        data = await self._read_key(name)
        if data.get("type") != KeyType.ED25519.value:
            raise WrongKeyType(f"key {name!r} is {data.get('type')}; this needs ed25519")
        minimum = max(1, int(data.get("min_decryption_version", 1)))
        return {
            int(v): base64.b64decode(entry["public_key"])
            for v, entry in sorted(data["keys"].items(), key=lambda item: int(item[0]))
            if int(v) >= minimum
        }

    # -- symmetric ----------------------------------------------------------------------

    async def encrypt(self, name: str, plaintext: bytes, context: bytes | None = None) -> str:
        """``POST /v1/transit/encrypt/:name``."""
        check_key_name(name)
        body = self._context({"plaintext": _b64(plaintext)}, context)
        response = await self._run(
            lambda c: _transit(c).encrypt_data(name=name, mount_point=self._mount, **body),
            f"encrypt with key {name!r}",
        )
        return str(self._data(response)["ciphertext"])

    async def decrypt(self, name: str, ciphertext: str, context: bytes | None = None) -> bytes:
        """``POST /v1/transit/decrypt/:name``."""
        check_key_name(name)
        self._check_value(ciphertext)
        body = self._context({"ciphertext": ciphertext}, context)
        response = await self._run(
            lambda c: _transit(c).decrypt_data(name=name, mount_point=self._mount, **body),
            f"decrypt with key {name!r}",
        )
        return base64.b64decode(self._data(response)["plaintext"])

    async def rewrap(self, name: str, ciphertext: str, context: bytes | None = None) -> str:
        """``POST /v1/transit/rewrap/:name``."""
        check_key_name(name)
        self._check_value(ciphertext)
        body = self._context({"ciphertext": ciphertext}, context)
        response = await self._run(
            lambda c: _transit(c).rewrap_data(name=name, mount_point=self._mount, **body),
            f"rewrap with key {name!r}",
        )
        return str(self._data(response)["ciphertext"])

    async def generate_data_key(
        self, name: str, bits: int = 256, context: bytes | None = None
    ) -> DataKey:
        """``POST /v1/transit/datakey/plaintext/:name``."""
        check_key_name(name)
        if bits not in _DATA_KEY_BITS:
            raise InvalidRequest(f"bits must be one of {_DATA_KEY_BITS}")
        body = self._context({"bits": bits}, context)
        response = await self._run(
            lambda c: _transit(c).generate_data_key(
                name=name, key_type="plaintext", mount_point=self._mount, **body
            ),
            f"generate a data key with key {name!r}",
        )
        data = self._data(response)
        return DataKey(base64.b64decode(data["plaintext"]), str(data["ciphertext"]))

    # -- HMAC and signatures ----------------------------------------------------------------

    async def hmac(self, name: str, data: bytes) -> str:
        """``POST /v1/transit/hmac/:name`` (sha2-256)."""
        check_key_name(name)
        response = await self._run(
            lambda c: _transit(c).generate_hmac(
                name=name, hash_input=_b64(data), algorithm="sha2-256", mount_point=self._mount
            ),
            f"hmac with key {name!r}",
        )
        return str(self._data(response)["hmac"])

    async def verify_hmac(self, name: str, data: bytes, hmac: str) -> bool:
        """``POST /v1/transit/verify/:name`` with ``hmac`` (Vault compares in constant time)."""
        check_key_name(name)
        self._check_value(hmac)
        response = await self._run(
            lambda c: _transit(c).verify_signed_data(
                name=name,
                hash_input=_b64(data),
                hmac=hmac,
                hash_algorithm="sha2-256",
                mount_point=self._mount,
            ),
            f"verify hmac with key {name!r}",
        )
        return bool(self._data(response)["valid"])

    async def sign(self, name: str, data: bytes) -> str:
        """``POST /v1/transit/sign/:name``."""
        check_key_name(name)
        response = await self._run(
            lambda c: _transit(c).sign_data(
                name=name, hash_input=_b64(data), mount_point=self._mount
            ),
            f"sign with key {name!r}",
        )
        return str(self._data(response)["signature"])

    async def verify(self, name: str, data: bytes, signature: str) -> bool:
        """``POST /v1/transit/verify/:name`` with ``signature``."""
        check_key_name(name)
        self._check_value(signature)
        response = await self._run(
            lambda c: _transit(c).verify_signed_data(
                name=name, hash_input=_b64(data), signature=signature, mount_point=self._mount
            ),
            f"verify signature with key {name!r}",
        )
        return bool(self._data(response)["valid"])

    # -- seal -------------------------------------------------------------------------------------

    async def status(self) -> SealStatus:
        """``GET /v1/sys/seal-status`` (needs no token)."""
        response = await self._run(lambda c: _sys(c).read_seal_status(), "read seal status")
        if not isinstance(response, Mapping):
            raise EngineUnavailable("Vault answered seal-status without a JSON object")
        return SealStatus(
            initialized=bool(response.get("initialized", False)),
            sealed=bool(response.get("sealed", True)),
            progress=int(response.get("progress", 0)),
            threshold=int(response.get("t", 0)),
            shares=int(response.get("n", 0)),
        )

    async def seal(self) -> None:
        """``PUT /v1/sys/seal``: seals the whole Vault (needs ``sudo`` on ``sys/seal``)."""
        await self._run(lambda c: _sys(c).seal(), "seal Vault")
        logger.warning("Vault sealed (break glass)")

    async def aclose(self) -> None:
        """Wait for in-flight calls and stop the worker threads."""
        await asyncio.to_thread(self._executor.shutdown, wait=True)
