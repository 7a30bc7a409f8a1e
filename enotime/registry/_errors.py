"""The errors a registry raises, documented by contrast with their neighbours.

Every adapter (in-memory or Consul) raises exactly these, so callers never see
a ``consul`` or ``aiohttp`` exception for a condition listed here.
"""

from __future__ import annotations

from enotime import errors

__all__ = [
    "CasFailed",
    "InvalidArgument",
    "NameTaken",
    "NotRegistered",
    "RegistryClosed",
    "RegistryError",
    "RegistryUnavailable",
    "SessionInvalidated",
]


class RegistryError(errors.EnotimeError):
    """Root of every error a registry raises on purpose."""


class InvalidArgument(RegistryError, ValueError):
    """The registry refused an argument before sending anything.

    An empty or malformed service, node, key or global name; a TTL that is not
    a positive finite number of seconds (or, for sessions, outside Consul's
    10 s to 86,400 s); a port outside 0..65535; metadata keys Consul would
    refuse. Also a :class:`ValueError`, since the caller passed a bad value.
    """


class CasFailed(RegistryError):
    """A check-and-set write lost: the key's modify index was not the one given.

    Raised by ``kv_put`` and ``kv_delete`` called with ``cas=``. ``cas=0``
    means "only if the key does not exist", so it fails when the key exists.
    Re-read the key and retry. Not :class:`NameTaken`, which is about global
    names held by sessions, and not raised by ``kv_acquire``, which answers a
    lock held elsewhere with ``False``.
    """

    def __init__(self, key: str, cas: int) -> None:
        super().__init__(f"check-and-set on key {key!r} at index {cas} failed: the key changed")
        self.key = key
        self.cas = cas


class NameTaken(RegistryError, errors.NameTaken):
    """A global name is held by another session (first writer wins).

    ``holder`` is the value the current owner registered, or ``None`` when the
    name is free but still inside the lock-delay that follows the end of its
    previous owner's session. Also an :class:`enotime.errors.NameTaken`, so
    one ``except`` covers local and global names.
    """

    def __init__(self, name: str, holder: str | None) -> None:
        errors.NameTaken.__init__(self, name, holder)
        if holder is None:
            self.args = (f"global name {name!r} is in its lock-delay after its owner's session",)
        else:
            self.args = (f"global name {name!r} is already registered to {holder!r}",)


class NotRegistered(RegistryError, LookupError):
    """The service instance is not registered (anymore) with the registry.

    Raised by ``Registration.heartbeat`` when the registry forgot the
    instance (it was deregistered, or a Consul agent lost its state). The
    keep-alive task answers it by registering again. Not
    :class:`SessionInvalidated`, which is about sessions.
    """


class SessionInvalidated(RegistryError):
    """The session has ended: destroyed, or its TTL lapsed without a renewal.

    Raised by ``kv_acquire``/``register_name``/``Session.renew`` with a dead
    session. Every lock and global name the session held is already released.
    Create a new session. Not :class:`RegistryUnavailable`: the registry
    answered, and said no.
    """

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} is no longer valid")
        self.session_id = session_id


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or failed for a reason outside this list.

    Consul unreachable, timing out or answering 5xx; an ACL token refused.
    The original exception is chained as ``__cause__``. Retrying may help.
    """


class RegistryClosed(RegistryUnavailable):
    """The registry was closed with ``aclose()``; make a new one.

    A :class:`RegistryUnavailable`, so code that retries on unavailability
    stops retrying only when it checks for this subclass.
    """
