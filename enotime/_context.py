"""The request context that travels with every message."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["RequestContext", "current_context", "request_context"]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, and under which request id.

    Attached to each message when it is sent and made current while its
    handler runs, so every message the handler sends on carries it too.

    Attributes:
        request_id: Correlates every log line and message of one request.
        claims: The verified claims of the caller (empty for internal work).
    """

    request_id: str
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_current: ContextVar[RequestContext | None] = ContextVar("enotime_request", default=None)


def current_context() -> RequestContext | None:
    """The context of the message being handled, or of the enclosing ``request_context``."""
    return _current.get()


@contextmanager
def request_context(context: RequestContext) -> Iterator[RequestContext]:
    """Make ``context`` current for messages sent inside the ``with`` block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
