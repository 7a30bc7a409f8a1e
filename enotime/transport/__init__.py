"""The transport port: typed, encrypted messages between nodes.

``LocalTransport`` (embedded, in-process) and ``AmqpTransport`` (RabbitMQ via
aio-pika, ``pip install "enotime[amqp]"``, imported lazily) implement
:class:`AbstractTransport`. Messages are frozen dataclasses decorated with
:func:`message`; the wire format is specified in ``docs/wire.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enotime.transport._envelope import WIRE_VERSION
from enotime.transport._errors import (
    DecryptionFailed,
    MalformedMessage,
    MessageTooLarge,
    PublishFailed,
    RemoteError,
    TransportClosed,
    TransportError,
    UnknownKey,
    UnknownMessageType,
    Unroutable,
    WireError,
)
from enotime.transport._keys import Keyring, WireKey
from enotime.transport._local import LocalBroker, LocalTransport
from enotime.transport._message import (
    MessageRegistry,
    MessageType,
    default_registry,
    message,
    message_type,
)
from enotime.transport._port import (
    Address,
    DeadLetter,
    DeadLetterHandler,
    Delivery,
    Handler,
    Subscription,
    TransportEvent,
    TransportStatistics,
)

if TYPE_CHECKING:
    from enotime.transport._amqp import AmqpTransport

__all__ = [
    "WIRE_VERSION",
    "Address",
    "AmqpTransport",
    "DeadLetter",
    "DeadLetterHandler",
    "DecryptionFailed",
    "Delivery",
    "Handler",
    "Keyring",
    "LocalBroker",
    "LocalTransport",
    "MalformedMessage",
    "MessageRegistry",
    "MessageTooLarge",
    "MessageType",
    "PublishFailed",
    "RemoteError",
    "Subscription",
    "TransportClosed",
    "TransportError",
    "TransportEvent",
    "TransportStatistics",
    "UnknownKey",
    "UnknownMessageType",
    "Unroutable",
    "WireError",
    "WireKey",
    "default_registry",
    "message",
    "message_type",
]


def __getattr__(name: str) -> Any:
    # aio-pika loads only when the RabbitMQ adapter is asked for.
    if name == "AmqpTransport":
        from enotime.transport._amqp import AmqpTransport

        return AmqpTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
