"""Messages the runtime delivers to actors, and the base for typed requests.

Application messages are ordinary immutable records (frozen dataclasses are
the idiom); nothing needs to subclass anything here. Subclass
:class:`Request` to give ``call`` a typed reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from enotime._reason import ExitReason

if TYPE_CHECKING:
    from enotime._actor import ActorRef, Monitor

__all__ = ["Down", "Exit", "Request"]

R = TypeVar("R")


class Request(Generic[R]):
    """Base for messages whose reply type is ``R``: ``await ref.call(msg)`` is typed ``R``.

    Example:
        >>> @dataclass(frozen=True)
        ... class GetBalance(Request[int]):
        ...     account: str
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Exit:
    """An exit signal turned into a message, for an actor that traps exits.

    Delivered when a linked actor stops (``sender`` is it) or when someone
    calls ``exit(ref, reason)`` on this actor. Not delivered for ``kill``.
    """

    sender: ActorRef[Any]
    reason: ExitReason


@dataclass(frozen=True, slots=True)
class Down:
    """A monitored actor stopped (or was not alive when the monitor was set).

    Attributes:
        monitor: What ``monitor()`` returned, to tell several monitors apart.
        ref: The actor that stopped.
        reason: Why; ``noproc`` if it was already dead.
    """

    monitor: Monitor
    ref: ActorRef[Any]
    reason: ExitReason
