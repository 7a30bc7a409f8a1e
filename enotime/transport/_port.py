"""The transport port: the async interface every transport adapter implements."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from enotime._closing import AsyncClosing
from enotime._context import RequestContext
from enotime.messages import Request

__all__ = [
    "AbstractTransport",
    "Address",
    "DeadLetter",
    "DeadLetterHandler",
    "Delivery",
    "Handler",
    "Subscription",
    "TransportEvent",
    "TransportStatistics",
]

R = TypeVar("R")
Self = TypeVar("Self", bound="AbstractTransport")


@dataclass(frozen=True, slots=True)
class Address:
    """Where a message goes: an actor on a node, or a service.

    Build with :meth:`actor` or :meth:`service`. ``routing_key`` is the AMQP
    routing key (``node.<node>`` or ``service.<name>``), visible on the wire.
    """

    kind: Literal["node", "service"]
    name: str
    actor: str = ""

    @classmethod
    def actor_on(cls, node: str, actor: str) -> Address:
        """The actor registered as ``actor`` on node ``node`` (its per-node queue)."""
        return cls("node", node, actor)

    @classmethod
    def service(cls, name: str) -> Address:
        """The service ``name``: a shared queue, one consumer gets each message."""
        return cls("service", name)

    @property
    def routing_key(self) -> str:
        """``node.<name>`` or ``service.<name>``."""
        return f"{self.kind}.{self.name}"

    def __str__(self) -> str:
        return f"{self.routing_key}/{self.actor}" if self.actor else self.routing_key


@dataclass(frozen=True, slots=True)
class Delivery:
    """A decoded message handed to a handler.

    Attributes:
        message: The decoded, validated message.
        context: The sender's request context (also current while the handler runs).
        address: Where it was sent (``address.actor`` names the actor on a node).
        kind: ``"send"`` (no reply expected) or ``"call"`` (the handler's return is the reply).
        deadline: For calls, the caller's deadline in seconds since the epoch.
        delivery_count: Earlier deliveries of this message (0 the first time).
        message_id: Unique per published message: deduplicate by it (at-least-once).
    """

    message: object
    context: RequestContext | None
    address: Address
    kind: Literal["send", "call"]
    deadline: float | None
    delivery_count: int
    message_id: str


Handler = Callable[[Delivery], Awaitable[object]]
"""Serves messages: its return value answers a call. Raise a ``Refused`` to answer with an error;
any other exception is a crash (the message is requeued, then dead-lettered)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that ended in the dead-letter queue, with why.

    Attributes:
        reason: Why it was dead-lettered (a decoding error, the handler's last
            crash, or the broker's own reason such as ``delivery_limit``).
        queue: The queue it was consumed from.
        routing_key: Its original routing key.
        headers: Its headers as published (plus the dead-lettering ones).
        body: Its body, still encrypted.
        message_id: Its message id.
    """

    reason: str
    queue: str
    routing_key: str
    headers: Mapping[str, object]
    body: bytes
    message_id: str


DeadLetterHandler = Callable[[DeadLetter], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TransportEvent:
    """Something a consumer reported instead of handling a message normally.

    Attributes:
        kind: ``expired`` (a call past its deadline, dropped), ``dead_lettered``
            or ``requeued`` (the handler crashed; it will be delivered again).
        reason: Human-readable detail, as in the log line.
        routing_key: Where the message was sent.
        message_id: Its message id.
    """

    kind: Literal["expired", "dead_lettered", "requeued"]
    reason: str
    routing_key: str
    message_id: str


@dataclass(frozen=True, slots=True)
class TransportStatistics:
    """Counters since the transport opened (the Prometheus layer reads these).

    Plain ints kept by the transport itself; nothing here costs the sender or
    the consumer more than an integer increment (a call: two clock reads).
    Labels of the ``*_by_*`` mappings are bounded: queue kinds, message kinds,
    reasons and error class names, never an id or an address.

    Attributes:
        published: Sends and calls confirmed by the broker.
        handled: Messages whose handler finished (answered calls included).
        replies: Replies and error answers published.
        expired: Calls dropped because their deadline had passed.
        requeued: Handler crashes whose message was requeued.
        dead_lettered: Messages sent to the dead-letter queue.
        calls_pending: Calls waiting for their reply now.
        published_by_kind: ``send``, ``call`` and ``reply`` messages published.
        consumed_by_queue: Messages taken from this node's queues, by queue
            kind: ``node``, ``service`` (work queues, before decoding) and
            ``reply`` (replies and error answers to this node's calls).
        redelivered: Work messages consumed again (their delivery count above 0).
        dead_lettered_by_reason: Dead-lettered messages by reason: ``crashed``
            (the handler crashed ``max_deliveries`` times) or the wire error
            that made the message unreadable, in snake case
            (``decryption_failed``, ``malformed_message``, ...).
        send_failures: Sends that raised, by the error's class name
            (``Unroutable``, ``PublishFailed``, ``UnknownMessageType``, ...).
        call_failures: Calls that raised, by the error's class name
            (``CallTimeout``, ``RemoteError``, ``Unroutable``, ...); a cancelled
            call is neither a failure nor timed.
        call_seconds_count: Calls timed: every call that returned or raised.
        call_seconds_sum: Their summed duration in seconds, publish to reply.
        call_seconds_buckets: Cumulative ``(upper bound in seconds, count)``
            pairs of their durations, ending with ``(inf, count)``.
        connected: Whether the transport can move messages now (for RabbitMQ:
            its connection is up; False while the robust connection reconnects).
        reconnects: Times the connection came back after it broke.
    """

    published: int
    handled: int
    replies: int
    expired: int
    requeued: int
    dead_lettered: int
    calls_pending: int
    published_by_kind: Mapping[str, int] = field(default_factory=dict)
    consumed_by_queue: Mapping[str, int] = field(default_factory=dict)
    redelivered: int = 0
    dead_lettered_by_reason: Mapping[str, int] = field(default_factory=dict)
    send_failures: Mapping[str, int] = field(default_factory=dict)
    call_failures: Mapping[str, int] = field(default_factory=dict)
    call_seconds_count: int = 0
    call_seconds_sum: float = 0.0
    call_seconds_buckets: tuple[tuple[float, int], ...] = ()
    connected: bool = False
    reconnects: int = 0


class Subscription(abc.ABC):
    """A running consumer; ``aclose`` stops it (unfinished messages go back to the queue)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop consuming; idempotent."""


class AbstractTransport(AsyncClosing, abc.ABC):
    """The transport port: send, call and serve across nodes.

    Messages are registered message classes (see
    :func:`~enotime.transport.message`), encrypted end to end (see
    ``docs/wire.md``). Delivery is at least once: a handler may see a message
    again after a crash, so it deduplicates by ``Delivery.message_id`` where
    that matters. Use as ``async with transport:`` or ``open``/``aclose``.

    Attributes:
        node_id: This node's id; its queue is addressed by ``Address.actor_on(node_id, ...)``.
    """

    node_id: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and declare this node's queues; returns once messages can flow."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop every consumer, fail pending calls, disconnect; idempotent."""

    async def __aenter__(self: Self) -> Self:
        await self.open()
        return self

    @abc.abstractmethod
    async def send(
        self, to: Address, message: object, *, context: RequestContext | None = None
    ) -> None:
        """Publish ``message`` to ``to``; returns once the broker accepted it.

        ``context`` defaults to the current request context.

        Raises:
            Unroutable: Nobody serves ``to``.
            PublishFailed: The broker did not confirm the message.
            UnknownMessageType: ``message`` is not a registered message.
            MessageTooLarge: Above ``max_message_bytes``.
        """

    @overload
    async def call(
        self,
        to: Address,
        message: Request[R],
        *,
        timeout: float,
        context: RequestContext | None = None,
    ) -> R: ...
    @overload
    async def call(
        self, to: Address, message: object, *, timeout: float, context: RequestContext | None = None
    ) -> Any: ...
    @abc.abstractmethod
    async def call(
        self, to: Address, message: object, *, timeout: float, context: RequestContext | None = None
    ) -> Any:
        """Publish a request and wait for its reply; the deadline travels with it.

        A consumer that receives the request after the deadline drops it
        without running the handler.

        Raises:
            CallTimeout: No reply within ``timeout`` seconds.
            RemoteError: The handler refused, or the request was dead-lettered.
            Unroutable: Nobody serves ``to``.
            PublishFailed: The broker did not confirm the request.
        """

    @abc.abstractmethod
    async def serve_node(self, handler: Handler) -> Subscription:
        """Consume this node's queue: every actor-addressed message to this node."""

    @abc.abstractmethod
    async def serve_service(self, name: str, handler: Handler) -> Subscription:
        """Consume the shared queue of service ``name`` (declared if need be).

        Every node serving the same name competes for its messages: load balancing.
        """

    @abc.abstractmethod
    async def serve_dead_letters(self, handler: DeadLetterHandler) -> Subscription:
        """Consume the dead-letter queue (for operators and tests); each is acked after."""

    @abc.abstractmethod
    def statistics(self) -> TransportStatistics:
        """The counters so far."""
