"""The crypto actor: the only component that talks to the engine; others ask it.

:class:`CryptoService` owns an engine (embedded or Vault) and answers
:class:`CryptoRequest` messages; :class:`CryptoClient` is the engine-shaped
handle other actors use, so code written against
:class:`~enotime.crypto.AbstractCryptoEngine` works through the actor unchanged.
Engine errors (``Sealed``, ``KeyNotFound``, ``InvalidCiphertext``, ...) are
answers to the caller, not crashes of the actor.

Statistics first, metrics second: the crypto actor times every operation and
counts its errors with plain ints kept per node (:func:`crypto_statistics`),
which ``enotime.metrics`` reads at scrape time. :class:`OperationStatistics`
and its recorder serve the store actor too.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final

from enotime._actor import Actor, ActorRef
from enotime._handler import handler
from enotime._handler_timing import HANDLER_BUCKETS, HandlerTiming
from enotime._per_node import PerNode
from enotime._reason import ExitReason
from enotime.crypto._control import open_control_server
from enotime.crypto._embedded import EmbeddedCryptoEngine
from enotime.crypto._errors import CryptoError, InvalidRequest, Sealed
from enotime.crypto._port import (
    AbstractCryptoEngine,
    DataKey,
    KeyInfo,
    KeyType,
    SealStatus,
    UnsealProgress,
)
from enotime.messages import Request

if TYPE_CHECKING:
    from enotime._node import Node

__all__ = [
    "DEFAULT_STATUS_INTERVAL",
    "CryptoClient",
    "CryptoOperation",
    "CryptoRequest",
    "CryptoService",
    "CryptoStatistics",
    "OperationCounts",
    "OperationStatistics",
    "crypto_statistics",
]

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


DEFAULT_STATUS_INTERVAL: Final = 15.0
"""Seconds between two reads of the engine's seal state by the crypto actor."""


# -- statistics ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperationStatistics:
    """Latency and errors of one operation of a service actor (crypto, store).

    Attributes:
        operation: The operation's name (``encrypt``, ``put``, ...).
        count: Operations timed: every one that returned or raised.
        sum_seconds: Their summed duration.
        buckets: Cumulative ``(upper bound in seconds, count)`` pairs (the
            bounds of metered handlers), ending with ``(inf, count)``.
        errors: Operations that raised, by the error's class name.
    """

    operation: str
    count: int
    sum_seconds: float
    buckets: tuple[tuple[float, int], ...]
    errors: Mapping[str, int]


class OperationCounts:
    """Running latency and error counts by operation: plain ints, for one node's services.

    Survives the actors that record into it (it lives as long as the node), so
    counters never go back when a service actor restarts.
    """

    __slots__ = ("__weakref__", "errors", "timings")

    def __init__(self) -> None:
        self.timings: dict[str, HandlerTiming] = {}
        self.errors: collections.Counter[tuple[str, str]] = collections.Counter()

    def observe(self, operation: str, seconds: float, error: BaseException | None = None) -> None:
        """Count one ``operation`` that took ``seconds`` and raised ``error`` (None: returned)."""
        timing = self.timings.get(operation)
        if timing is None:
            timing = self.timings[operation] = HandlerTiming()
        timing.observe(seconds)
        if error is not None:
            self.errors[operation, type(error).__name__] += 1

    def timed(self, operation: str) -> _Timed:
        """A context manager that times its block as one ``operation``.

        An exception leaving the block counts as an error of its class; a
        cancellation is neither timed nor counted (the caller gave up).
        """
        return _Timed(self, operation)

    def snapshot(self) -> tuple[OperationStatistics, ...]:
        """Every operation seen so far, by name."""
        bounds = (*HANDLER_BUCKETS, float("inf"))
        errors: dict[str, dict[str, int]] = {}
        for (operation, error), count in self.errors.items():
            errors.setdefault(operation, {})[error] = count
        return tuple(
            OperationStatistics(
                operation=operation,
                count=timing.count,
                sum_seconds=timing.sum,
                buckets=tuple(zip(bounds, itertools.accumulate(timing.buckets), strict=True)),
                errors=errors.get(operation, {}),
            )
            for operation, timing in sorted(self.timings.items())
        )


class _Timed:
    __slots__ = ("_counts", "_operation", "_start")

    def __init__(self, counts: OperationCounts, operation: str) -> None:
        self._counts = counts
        self._operation = operation
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, Exception):
            self._counts.observe(self._operation, time.perf_counter() - self._start, exc)


@dataclass(frozen=True, slots=True)
class CryptoStatistics:
    """What a node's crypto actors counted, for inspection and metrics.

    Attributes:
        operations: Latency and errors by :class:`CryptoOperation` value.
        sealed: The engine's seal state as last seen (an answer, a ``Sealed``
            error, or the periodic read); None until first seen.
        batches: ``batch`` requests performed.
        batched_operations: The operations those batches carried.
    """

    operations: tuple[OperationStatistics, ...]
    sealed: bool | None
    batches: int
    batched_operations: int


class _CryptoCounts(OperationCounts):
    __slots__ = ("batched", "batches", "sealed")

    def __init__(self) -> None:
        super().__init__()
        self.sealed: bool | None = None
        self.batches = self.batched = 0


_counts: PerNode[_CryptoCounts] = PerNode(_CryptoCounts)


def crypto_statistics(node: Node) -> CryptoStatistics | None:
    """What the crypto actors of ``node`` counted; None if none has run there."""
    counts = _counts.get(node)
    if counts is None:
        return None
    return CryptoStatistics(counts.snapshot(), counts.sealed, counts.batches, counts.batched)


# -- the protocol -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ReadSealStatus:
    """The crypto actor's reminder to read the engine's seal state (for metrics)."""


@dataclass(frozen=True, slots=True)
class CryptoRequest(Request[Any]):
    """Ask the crypto actor to run one engine operation."""

    operation: CryptoOperation
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class CryptoService(Actor):
    """Owns the node's crypto engine and performs operations for other actors.

    Every operation is timed and its errors counted, by operation, into the
    node's :func:`crypto_statistics` (``enotime_crypto_*`` metrics). The
    engine's seal state is noted from every answer, and read from the engine
    when the actor starts and every ``status_interval`` seconds, so an engine
    sealed behind the actor's back (``enotime crypto seal``, Vault's own
    ``vault operator seal``) shows up without waiting for a failed operation.

    Args:
        engine: The engine. It outlives the actor: a crash and restart of the
            crypto actor does not seal an unsealed engine; its owner closes it.
        control_socket: For an embedded engine, serve the local control
            socket (``enotime crypto unseal|seal|status``) while running.
        status_interval: Seconds between two reads of the seal state; None
            reads it only from the operations' answers.
    """

    refusals = (CryptoError,)

    def __init__(
        self,
        engine: AbstractCryptoEngine,
        *,
        control_socket: bool = False,
        status_interval: float | None = DEFAULT_STATUS_INTERVAL,
    ) -> None:
        if status_interval is not None and status_interval <= 0:
            raise ValueError(f"status_interval must be > 0 or None, not {status_interval!r}")
        self.engine = engine
        self.control_socket = control_socket
        self.status_interval = status_interval
        self._resources = contextlib.AsyncExitStack()
        self._counts: _CryptoCounts | None = None
        self._status_failing = False  # warn once per outage, not every interval

    async def on_start(self) -> None:
        if self.control_socket:
            if not isinstance(self.engine, EmbeddedCryptoEngine):
                raise TypeError("the control socket serves an embedded engine only")
            await self._resources.enter_async_context(open_control_server(self.engine))
        if self.status_interval is not None:
            self.ref.send(_ReadSealStatus())  # first thing in the mailbox, off on_start's path

    async def on_stop(self, reason: ExitReason) -> None:
        await self._resources.aclose()

    def _statistics(self) -> _CryptoCounts:
        counts = self._counts
        if counts is None:
            counts = self._counts = _counts.of(self.node)
        return counts

    @handler
    async def perform(self, request: CryptoRequest) -> Any:
        op = request.operation
        counts = self._statistics()
        start = time.perf_counter()
        try:
            operation = getattr(self.engine, op.value, None)
            if operation is None:
                raise InvalidRequest(f"{type(self.engine).__name__} does not support {op.value}")
            result = await operation(*request.args, **request.kwargs)
        except Exception as exc:
            counts.observe(op.value, time.perf_counter() - start, exc)
            if isinstance(exc, Sealed):
                counts.sealed = True
            raise
        counts.observe(op.value, time.perf_counter() - start)
        if isinstance(result, SealStatus | UnsealProgress):  # status, submit_unseal_share
            counts.sealed = result.sealed
        elif op is CryptoOperation.SEAL:
            counts.sealed = True
        else:  # every other operation needs the key material: the engine is unsealed
            counts.sealed = False
            if op is CryptoOperation.BATCH and request.args:
                counts.batches += 1
                counts.batched += len(request.args[0])
        return result

    @handler
    async def _read_seal_status(self, message: _ReadSealStatus) -> None:
        try:
            self._statistics().sealed = (await self.engine.status()).sealed
        except Exception as exc:  # unreachable engine: keep what was seen last
            level = logging.DEBUG if self._status_failing else logging.WARNING
            log.log(level, "crypto actor %r: cannot read the seal state: %r", self.ref, exc)
            self._status_failing = True
        else:
            self._status_failing = False
        if self.status_interval is not None:
            self.send_after(self.status_interval, message)


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
