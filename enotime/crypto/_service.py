"""The crypto actor: the only component that talks to the engine; others ask it.

:class:`CryptoService` owns an engine (embedded or Vault) and answers
:class:`CryptoRequest` messages; :class:`CryptoClient` is the engine-shaped
handle other actors use, so code written against
:class:`~enotime.crypto.AbstractCryptoEngine` works through the actor unchanged.
Engine errors (``Sealed``, ``KeyNotFound``, ``InvalidCiphertext``, ...) are
answers to the caller, not crashes of the actor.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from enotime._actor import Actor, ActorRef
from enotime._handler import handler
from enotime._reason import ExitReason
from enotime.crypto._control import open_control_server
from enotime.crypto._embedded import EmbeddedCryptoEngine
from enotime.crypto._errors import CryptoError, InvalidRequest
from enotime.crypto._port import AbstractCryptoEngine, DataKey, KeyInfo, KeyType, SealStatus
from enotime.messages import Request

__all__ = ["CryptoClient", "CryptoOperation", "CryptoRequest", "CryptoService"]

log = logging.getLogger("enotime.crypto")


class CryptoOperation(StrEnum):
    """The engine operations the crypto actor performs on request."""

    CREATE_KEY = "create_key"
    KEY_INFO = "key_info"
    ROTATE = "rotate"
    SET_MIN_DECRYPTION_VERSION = "set_min_decryption_version"
    PUBLIC_KEYS = "public_keys"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    REWRAP = "rewrap"
    GENERATE_DATA_KEY = "generate_data_key"
    HMAC = "hmac"
    VERIFY_HMAC = "verify_hmac"
    SIGN = "sign"
    VERIFY = "verify"
    STATUS = "status"
    SEAL = "seal"
    SUBMIT_UNSEAL_SHARE = "submit_unseal_share"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class CryptoRequest(Request[Any]):
    """Ask the crypto actor to run one engine operation."""

    operation: CryptoOperation
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class CryptoService(Actor):
    """Owns the node's crypto engine and performs operations for other actors.

    Args:
        engine: The engine. It outlives the actor: a crash and restart of the
            crypto actor does not seal an unsealed engine; its owner closes it.
        control_socket: For an embedded engine, serve the local control
            socket (``enotime crypto unseal|seal|status``) while running.
    """

    refusals = (CryptoError,)

    def __init__(self, engine: AbstractCryptoEngine, *, control_socket: bool = False) -> None:
        self.engine = engine
        self.control_socket = control_socket
        self._resources = contextlib.AsyncExitStack()

    async def on_start(self) -> None:
        if self.control_socket:
            if not isinstance(self.engine, EmbeddedCryptoEngine):
                raise TypeError("the control socket serves an embedded engine only")
            await self._resources.enter_async_context(open_control_server(self.engine))

    async def on_stop(self, reason: ExitReason) -> None:
        await self._resources.aclose()

    @handler
    async def perform(self, request: CryptoRequest) -> Any:
        operation = getattr(self.engine, request.operation.value, None)
        if operation is None:
            raise InvalidRequest(
                f"{type(self.engine).__name__} does not support {request.operation.value}"
            )
        return await operation(*request.args, **request.kwargs)


class CryptoClient(AbstractCryptoEngine):
    """The crypto port, answered by a :class:`CryptoService` actor.

    Args:
        service: The crypto actor's ref.
        timeout: Seconds each operation may take (Vault round trips included).
    """

    def __init__(self, service: ActorRef[CryptoService], *, timeout: float = 10.0) -> None:
        self.service = service
        self.timeout = timeout

    async def _ask(self, operation: CryptoOperation, *args: Any, **kwargs: Any) -> Any:
        return await self.service.call(
            CryptoRequest(operation, args, MappingProxyType(kwargs)), timeout=self.timeout
        )

    async def create_key(
        self, name: str, type: KeyType = KeyType.AES256_GCM96, *, derived: bool = False
    ) -> None:
        await self._ask(CryptoOperation.CREATE_KEY, name, type, derived=derived)

    async def key_info(self, name: str) -> KeyInfo:
        info: KeyInfo = await self._ask(CryptoOperation.KEY_INFO, name)
        return info

    async def rotate(self, name: str) -> int:
        version: int = await self._ask(CryptoOperation.ROTATE, name)
        return version

    async def set_min_decryption_version(self, name: str, version: int) -> None:
        await self._ask(CryptoOperation.SET_MIN_DECRYPTION_VERSION, name, version)

    async def public_keys(self, name: str) -> dict[int, bytes]:
        keys: dict[int, bytes] = await self._ask(CryptoOperation.PUBLIC_KEYS, name)
        return keys

    async def encrypt(self, name: str, plaintext: bytes, context: bytes | None = None) -> str:
        ciphertext: str = await self._ask(CryptoOperation.ENCRYPT, name, plaintext, context)
        return ciphertext

    async def decrypt(self, name: str, ciphertext: str, context: bytes | None = None) -> bytes:
        plaintext: bytes = await self._ask(CryptoOperation.DECRYPT, name, ciphertext, context)
        return plaintext

    async def rewrap(self, name: str, ciphertext: str, context: bytes | None = None) -> str:
        rewrapped: str = await self._ask(CryptoOperation.REWRAP, name, ciphertext, context)
        return rewrapped

    async def generate_data_key(
        self, name: str, bits: int = 256, context: bytes | None = None
    ) -> DataKey:
        key: DataKey = await self._ask(CryptoOperation.GENERATE_DATA_KEY, name, bits, context)
        return key

    async def hmac(self, name: str, data: bytes) -> str:
        digest: str = await self._ask(CryptoOperation.HMAC, name, data)
        return digest

    async def verify_hmac(self, name: str, data: bytes, hmac: str) -> bool:
        valid: bool = await self._ask(CryptoOperation.VERIFY_HMAC, name, data, hmac)
        return valid

    async def sign(self, name: str, data: bytes) -> str:
        signature: str = await self._ask(CryptoOperation.SIGN, name, data)
        return signature

    async def verify(self, name: str, data: bytes, signature: str) -> bool:
        valid: bool = await self._ask(CryptoOperation.VERIFY, name, data, signature)
        return valid

    async def status(self) -> SealStatus:
        status: SealStatus = await self._ask(CryptoOperation.STATUS)
        return status

    async def seal(self) -> None:
        await self._ask(CryptoOperation.SEAL)

    async def batch(self, operations: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Run several data operations in the crypto actor for one round trip."""
        results: list[Any] = await self._ask(CryptoOperation.BATCH, list(operations))
        return results
