"""The transport's errors, under :class:`~enotime.errors.EnotimeError`.

Two families: :class:`WireError` means a message could not be turned into (or
back from) the documented wire format — a consumer dead-letters such a message
and keeps running; :class:`TransportError` means the transport could not move
a message — the sender learns that its message was not accepted.
"""

from __future__ import annotations

from enotime.errors import EnotimeError, Refused

__all__ = [
    "DecryptionFailed",
    "MalformedMessage",
    "MessageTooLarge",
    "PublishFailed",
    "RemoteError",
    "TransportClosed",
    "TransportError",
    "UnknownKey",
    "UnknownMessageType",
    "Unroutable",
    "WireError",
]


class WireError(EnotimeError):
    """A message is not valid in the wire format (see ``docs/wire.md``).

    Raised by the codec on either side. A consumer that meets one logs it,
    dead-letters the message with this error as the reason, and keeps going.
    Not :class:`TransportError`: the bytes moved fine, their content is wrong.
    """


class MalformedMessage(WireError):
    """Headers, JSON or fields do not match the wire format or the message's schema."""


class UnknownMessageType(WireError):
    """No message class is registered for a type tag and version (or a class is not a message).

    Raised when decoding a ``(type, v)`` pair this process has no class for,
    and when encoding an object whose class was not decorated with
    :func:`~enotime.transport.message`.
    """


class MessageTooLarge(WireError):
    """A message body is above the transport's ``max_message_bytes``.

    Raised to the sender before anything is published, and on the consumer
    side for an oversized body published by someone else (dead-lettered).
    """


class DecryptionFailed(WireError):
    """AES-GCM authentication failed: wrong key, tampered body, or replayed under other metadata.

    The associated data binds the routing metadata, so a body moved to another
    routing key, reply queue or kind fails here. Not :class:`UnknownKey`,
    which means the key id itself is not in the keyring.
    """


class UnknownKey(DecryptionFailed):
    """The message names a key id (``enotime-kid``) that is not in this node's keyring."""


class TransportError(EnotimeError):
    """The transport could not move a message, or is not open.

    Not :class:`WireError`, which is about a message's content.
    """


class Unroutable(TransportError):
    """No queue is bound for the destination: nobody serves that node or service.

    Raised by ``send`` and ``call`` (mandatory publishing): the broker
    returned the message instead of silently dropping it.
    """

    def __init__(self, destination: str) -> None:
        super().__init__(f"no queue is bound for {destination!r}: the message was returned")
        self.destination = destination


class PublishFailed(TransportError):
    """The broker did not confirm the message (nack, channel or connection lost).

    The message may or may not have been enqueued; it was not *accepted*, so a
    sender that must deliver retries (consumers deduplicate by message id).
    """


class TransportClosed(TransportError):
    """The transport is not open (never opened, or closed with ``aclose``)."""


class RemoteError(Refused):
    """A remote handler answered a call with an error, or the call was dead-lettered.

    A :class:`~enotime.errors.Refused`: the other side answered. Exceptions do
    not cross the wire as objects (never pickle): ``error_type`` is the remote
    exception's type name (``enotime.DeadLettered``, ``enotime.MalformedMessage``
    and the like for transport-level answers) and ``text`` its message.
    """

    def __init__(self, error_type: str, text: str) -> None:
        super().__init__(f"{error_type}: {text}")
        self.error_type = error_type
        self.text = text
