"""An outage of the store, crypto actor or mailer: answered 503 or logged, never a crash.

The login and accounts actors guard their handlers with these decorators: a
collaborator that is down, slow or sealed turns into the actor's own
"unavailable" error (a 503 at the front) -- or, for the work an actor does
after it replied, a log line -- instead of a crash and a restart.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar

from enotime.crypto import CryptoError, InvalidCiphertext
from enotime.errors import ActorExited, CallTimeout, NameNotFound
from enotime.store import StoreUnavailable

__all__ = ["UNAVAILABLE", "OutageHook", "answers_unavailable", "logs_unavailable"]

UNAVAILABLE: Final = (StoreUnavailable, CryptoError, CallTimeout, ActorExited, NameNotFound)
"""What a collaborator that is down, slow or sealed raises (``InvalidCiphertext`` is not one)."""

OutageHook = Callable[[Any, object], None]
"""Called as ``hook(actor, message)`` when an outage stopped the handling of ``message``."""

_S = TypeVar("_S")
_M = TypeVar("_M")
_R = TypeVar("_R")


class _Guard(Protocol):
    def __call__(
        self, function: Callable[[_S, _M], Awaitable[_R]], /
    ) -> Callable[[_S, _M], Awaitable[_R]]: ...


class _AfterReplyGuard(Protocol):
    def __call__(
        self, function: Callable[[_S, _M], Awaitable[None]], /
    ) -> Callable[[_S, _M], Awaitable[None]]: ...


def answers_unavailable(
    error: type[Exception],
    *,
    log: logging.Logger,
    prefix: str,
    on_outage: OutageHook | None = None,
) -> _Guard:
    """A decorator for handlers: an outage is logged and raised again as ``error``.

    Args:
        error: What the caller gets instead (a 503 at the front), chained to the outage.
        log: The actor's logger; the line is a warning ``"<prefix>: <Message> failed: ..."``.
        prefix: Names the actor in the log line.
        on_outage: Called with the actor and the message before ``error`` is raised.
    """

    def guard(
        function: Callable[[_S, _M], Awaitable[_R]],
    ) -> Callable[[_S, _M], Awaitable[_R]]:
        @functools.wraps(function)
        async def guarded(self: _S, message: _M, /) -> _R:
            try:
                return await function(self, message)
            except InvalidCiphertext:
                raise  # not an outage: a record that does not open is a bug or tampering
            except UNAVAILABLE as outage:
                log.warning("%s: %s failed: %r", prefix, type(message).__name__, outage)
                if on_outage is not None:
                    on_outage(self, message)
                raise error from outage

        return guarded

    return guard


def logs_unavailable(
    *, log: logging.Logger, prefix: str, on_outage: OutageHook | None = None
) -> _AfterReplyGuard:
    """A decorator for the work after a reply: an outage is logged (nobody waits for an answer).

    Args:
        log: The actor's logger; the line is an error ``"<prefix>: <Message> was not done: ..."``.
        prefix: Names the actor in the log line.
        on_outage: Called with the actor and the message after the line is logged.
    """

    def guard(
        function: Callable[[_S, _M], Awaitable[None]],
    ) -> Callable[[_S, _M], Awaitable[None]]:
        @functools.wraps(function)
        async def guarded(self: _S, message: _M, /) -> None:
            try:
                await function(self, message)
            except InvalidCiphertext:
                raise
            except UNAVAILABLE as outage:
                log.error("%s: %s was not done: %r", prefix, type(message).__name__, outage)
                if on_outage is not None:
                    on_outage(self, message)

        return guarded

    return guard
