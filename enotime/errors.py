"""Every error ENoTime raises, under one root.

Each docstring says when the error is raised and which neighbour it is not.
Messages name the actor (by its ref) so a log line alone tells what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enotime._reason import ExitReason

__all__ = [
    "ActorExited",
    "ActorNotAlive",
    "CallTimeout",
    "ChildNotFound",
    "ConfigurationError",
    "EnotimeError",
    "MailboxFull",
    "NameNotFound",
    "NameTaken",
    "NotSupportedAcrossNodes",
    "Refused",
    "RemoteCrash",
    "StartFailed",
    "UnhandledMessage",
    "UnknownActor",
]


class EnotimeError(Exception):
    """Root of every error ENoTime raises on purpose.

    Catch this to handle any framework error; a bug in ENoTime itself surfaces
    as an ordinary Python exception instead.
    """


class ActorExited(EnotimeError):
    """A call's target exited before it replied.

    Raised by ``call`` when the actor dies while the request waits in its
    mailbox or while its handler runs. ``reason`` says why it died. Not
    :class:`CallTimeout`: the actor is known to be gone, not merely slow.
    """

    def __init__(self, ref: Any, reason: ExitReason) -> None:
        super().__init__(f"{ref!r} exited before replying: {reason}")
        self.ref = ref
        self.reason = reason


class ActorNotAlive(ActorExited):
    """The target of a ``call`` was already dead when the call was made.

    A subclass of :class:`ActorExited`, so one ``except`` covers both; raised
    at once, without waiting for the timeout. ``cast``/``send`` to a dead actor
    raise nothing: the message goes to the dead-letter log, as in Erlang.
    """

    def __init__(self, ref: Any, reason: ExitReason) -> None:
        EnotimeError.__init__(self, f"{ref!r} is not alive ({reason})")
        self.ref = ref
        self.reason = reason


class CallTimeout(EnotimeError, TimeoutError):
    """No reply to a ``call`` within its timeout.

    The actor may still be alive and may still handle the request; its late
    reply is discarded. Not :class:`ActorExited`, which means the actor died.
    """

    def __init__(self, ref: Any, message: object, timeout: float) -> None:
        super().__init__(f"{ref!r} did not reply to {type(message).__name__} within {timeout:g} s")
        self.ref = ref
        self.message = message
        self.timeout = timeout


class UnhandledMessage(EnotimeError):
    """The actor has no handler for the message's type.

    Raised to the caller of ``call``; for ``cast`` the message is recorded in
    the dead-letter log. The actor keeps running in both cases.
    """

    def __init__(self, ref: Any, message: object) -> None:
        super().__init__(f"{ref!r} has no handler for {type(message).__qualname__}")
        self.ref = ref
        self.message = message


class MailboxFull(EnotimeError):
    """A bounded mailbox with the ``reject`` overflow policy is full.

    Raised to the sender at once: this is back-pressure, the message was not
    enqueued. The ``drop_*`` policies drop to the dead-letter log instead.
    """

    def __init__(self, ref: Any, capacity: int) -> None:
        super().__init__(f"mailbox of {ref!r} is full ({capacity} messages)")
        self.ref = ref
        self.capacity = capacity


class NameTaken(EnotimeError):
    """A name is already registered to another live actor on this node."""

    def __init__(self, name: str, holder: Any) -> None:
        super().__init__(f"name {name!r} is already registered to {holder!r}")
        self.name = name
        self.holder = holder


class NameNotFound(EnotimeError, LookupError):
    """No live actor is registered under the name (it never was, or it died)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no actor is registered as {name!r}")
        self.name = name


class ConfigurationError(EnotimeError, ValueError):
    """A tree cannot be built: a setting it needs is missing or malformed.

    Raise it (or a subclass) from a function that builds a tree from its
    environment or files; the message names the setting and what to do.
    ``enotime run`` prints it on one line and exits with status 2, without a
    traceback -- the operator has a setting to fix, not a bug to read. Not
    :class:`StartFailed`: nothing was started; the tree was never made.
    """


class StartFailed(EnotimeError):
    """An actor could not start: its constructor or ``on_start`` raised.

    The cause is chained (``__cause__``) and kept in ``reason``. The actor
    never became alive, so no exit signal is sent to the spawner for it.
    """

    def __init__(self, description: str, reason: ExitReason) -> None:
        super().__init__(f"{description} failed to start: {reason}")
        self.reason = reason


class Refused(EnotimeError):
    """Raise (a subclass of) this in a call handler to answer with an error.

    The caller gets the exception raised from ``call``; the actor keeps
    running. Any other exception in a handler crashes the actor, as in OTP,
    and the caller gets :class:`ActorExited` instead.
    """


class ChildNotFound(Refused):
    """A supervisor has no child with the id given to ``terminate_child`` and friends.

    A :class:`Refused`: the supervisor answered and keeps running.
    """


class UnknownActor(Refused):
    """A message arrived from another node for a name no local actor holds.

    Raised by the node's gateway on the receiving side: a remote ``call``
    gets it as a :class:`~enotime.transport.RemoteError` whose ``error_type``
    is ``"UnknownActor"``; a remote ``send`` is recorded in the receiving
    node's dead letters. Not :class:`NameNotFound`, which is a local lookup.
    """

    def __init__(self, name: str, node: str) -> None:
        super().__init__(f"no actor is registered as {name!r} on node {node!r}")
        self.name = name
        self.node = node


class RemoteCrash(EnotimeError):
    """An actor on another node crashed: its exception's type name and text, as they crossed.

    The exception of an ``ExitReason`` of kind ``crash`` in a ``Down`` from a
    monitor across nodes (exceptions never travel as objects: nothing is
    pickled). Not raised by ENoTime; matched on ``type_name``.
    """

    def __init__(self, type_name: str, text: str) -> None:
        super().__init__(f"{type_name}: {text}" if text else type_name)
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"RemoteCrash({self.type_name!r}, {self.text!r})"


class NotSupportedAcrossNodes(EnotimeError, NotImplementedError):
    """An operation needs a local actor (or an actor, not a service) but got a remote ref.

    What needs the local process record: ``node.stop``, local name
    registration, ``ref.statistics()``, ``ref.actor_class``. What makes no
    sense for a service (whichever node takes the message serves it): link,
    monitor, exit signals (``node.exit``, ``node.kill``), ``wait_stopped``,
    ``kill_and_wait``. ``send``, ``call``, ``monitor``, ``link``,
    ``node.exit``, ``node.kill``, ``send_after`` and ``wait_stopped`` of an
    actor on another node work (``send`` and ``send_after`` to a service too).
    Also a ``NotImplementedError``: a limitation, not a fault of the caller's data.
    """

    def __init__(self, operation: str, ref: Any) -> None:
        super().__init__(
            f"{operation} is not supported across nodes yet: {ref!r} is on another node "
            "(send, call, monitor and link work on a remote ref to an actor)"
        )
        self.operation = operation
        self.ref = ref
