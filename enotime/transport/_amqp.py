"""The production adapter: RabbitMQ through aio-pika, on a robust connection.

Topology (``docs/wire.md``): a durable direct exchange ``<exchange>``; per
node a quorum queue ``<exchange>.node.<node>`` bound with ``node.<node>``; per
service a quorum queue ``<exchange>.service.<name>`` bound with
``service.<name>``; both dead-letter to the fanout ``<exchange>.dlx`` and its
quorum queue ``<exchange>.dead``; per transport an exclusive reply queue.

Delivery: publisher confirms with mandatory publishing (an unroutable message
raises :class:`Unroutable`); manual acks after the handler finished; a prefetch
per consumer; ``x-delivery-count`` (quorum queues) decides when a crashing
message is dead-lettered, and ``x-delivery-limit`` makes the broker do it
itself when a node dies on it repeatedly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

try:
    import aio_pika
    import aiormq.exceptions
    from aio_pika.abc import (
        AbstractChannel,
        AbstractExchange,
        AbstractIncomingMessage,
        AbstractQueue,
        AbstractRobustConnection,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('the RabbitMQ transport needs aio-pika: pip install "enotime[amqp]"') from exc

from enotime.transport._base import TransportBase
from enotime.transport._envelope import Outbound, RawMessage
from enotime.transport._errors import PublishFailed, TransportClosed, Unroutable
from enotime.transport._keys import Keyring
from enotime.transport._port import DeadLetterHandler, Handler, Subscription

__all__ = ["AmqpTransport"]

logger = logging.getLogger("enotime.transport")

_PUBLISH_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    RuntimeError,  # aio-pika: "channel closed" while the robust connection reconnects
    TimeoutError,
)


def _raw(message: AbstractIncomingMessage, queue: str) -> RawMessage:
    headers = dict(message.headers or {})
    count = headers.get("x-delivery-count", 0)
    return RawMessage(
        exchange=message.exchange or "",
        routing_key=message.routing_key or "",
        headers=headers,
        body=message.body,
        message_id=message.message_id or "",
        correlation_id=message.correlation_id or "",
        reply_to=message.reply_to or "",
        queue=queue,
        delivery_count=count if isinstance(count, int) and count >= 0 else 0,
    )


class _Settle:
    __slots__ = ("_message",)

    def __init__(self, message: AbstractIncomingMessage) -> None:
        self._message = message

    async def ack(self) -> None:
        await self._message.ack()

    async def requeue(self) -> None:
        await self._message.reject(requeue=True)


class _AmqpSubscription(Subscription):
    def __init__(self, queue: AbstractQueue, tag: str) -> None:
        self._queue: AbstractQueue | None = queue
        self._tag = tag

    async def aclose(self) -> None:
        queue, self._queue = self._queue, None
        if queue is None:
            return
        try:
            await queue.cancel(self._tag)
        except _PUBLISH_ERRORS as exc:  # the channel is gone: nothing left to cancel
            logger.debug("cancelling consumer %s: %s", self._tag, exc)


class AmqpTransport(TransportBase):
    """Nodes on RabbitMQ (aio-pika, robust connection: reconnects and re-declares).

    Args:
        url: ``amqp://user:password@host:port/vhost``.
        node_id: This node's id (no dots).
        keyring: The envelope keys; every node that talks must share them.
        exchange: Name of the main exchange; all other names derive from it.
        prefetch: Unacked messages per consumer (handlers running at once).
        max_deliveries: A message whose handler crashed this many times is
            dead-lettered; also the quorum queues' ``x-delivery-limit``. All
            nodes must agree (queue arguments must match to declare).
        max_message_bytes: Bodies above this are refused (sent) or dead-lettered (received).
        publish_timeout: Seconds to wait for the broker's confirm of a send (None: no
            limit of its own; a call's timeout covers its publish). aio-pika runs a
            publish with a timeout in an extra task: measurably slower under load.
        reconnect_interval: Seconds between reconnection attempts after the link broke.
        observer: Called with each :class:`TransportEvent` (expired, requeued, dead-lettered).
    """

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        keyring: Keyring,
        prefetch: int = 64,
        publish_timeout: float | None = None,
        reconnect_interval: float = 1.0,
        **options: Any,
    ) -> None:
        super().__init__(node_id, keyring=keyring, **options)
        self.url = url
        self.prefetch = prefetch
        self.publish_timeout = publish_timeout
        self.reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._dlx: AbstractExchange | None = None
        self._node_queue: AbstractQueue | None = None
        self._dead_queue: AbstractQueue | None = None
        self._subscriptions: list[Subscription] = []
        self._service_queues: set[str] = set()

    def __repr__(self) -> str:
        return f"<AmqpTransport node={self.node_id!r} exchange={self.exchange!r}>"

    @property
    def connection(self) -> AbstractRobustConnection:
        """The robust connection (for tests and diagnostics)."""
        if self._connection is None:
            raise TransportClosed(f"transport of node {self.node_id!r} is not open")
        return self._connection

    def _on_reconnect(self, *_: Any) -> None:
        """The robust connection is back (and has restored channels and consumers)."""
        self._reconnects += 1
        logger.info("transport of node %s reconnected (%d so far)", self.node_id, self._reconnects)

    def _connected(self) -> bool:
        connection = self._connection
        return self._open and connection is not None and connection.connected.is_set()

    def _work_queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-delivery-limit": self.max_deliveries,
        }

    async def open(self) -> None:
        if self._open:
            return
        connection = await aio_pika.connect_robust(
            self.url,
            client_properties={"connection_name": f"enotime:{self.node_id}"},
            reconnect_interval=self.reconnect_interval,
        )
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.set_qos(prefetch_count=self.prefetch)
            self._exchange = await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.DIRECT, durable=True
            )
            self._dlx = await channel.declare_exchange(
                self.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
            )
            dead = await channel.declare_queue(
                self.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await dead.bind(self._dlx, routing_key="")
            node_queue = await channel.declare_queue(
                f"{self.exchange}.node.{self.node_id}",
                durable=True,
                arguments=self._work_queue_arguments(),
            )
            await node_queue.bind(self._exchange, routing_key=f"node.{self.node_id}")
            reply_queue = await channel.declare_queue(
                f"{self.exchange}.reply.{self.node_id}.{uuid.uuid4().hex[:12]}",
                exclusive=True,
                auto_delete=True,
            )
            self._reply_to = reply_queue.name

            async def on_reply(message: AbstractIncomingMessage) -> None:
                self._on_reply(_raw(message, reply_queue.name))

            await reply_queue.consume(on_reply, no_ack=True)
        except BaseException:
            await connection.close()
            raise
        connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection = connection
        self._channel = channel
        self._node_queue = node_queue
        self._dead_queue = dead
        self._open = True
        logger.info("transport of node %s open on %s", self.node_id, self.exchange)

    async def aclose(self) -> None:
        if not self._open:
            return
        self._open = False
        for subscription in self._subscriptions:
            await subscription.aclose()
        self._subscriptions.clear()
        await self._drain()
        self._fail_pending(TransportClosed(f"transport of node {self.node_id!r} closed"))
        connection, self._connection = self._connection, None
        self._channel = self._exchange = self._dlx = None
        self._node_queue = self._dead_queue = None
        if connection is not None:
            await connection.close()
        logger.info("transport of node %s closed", self.node_id)

    async def delete_topology(self) -> None:
        """Delete the exchanges and the queues this transport declared (tests, teardown).

        Other nodes' queues are theirs to delete; their bindings go with the exchange.
        """
        if self._channel is None:
            raise TransportClosed(f"transport of node {self.node_id!r} is not open")
        channel = self._channel
        names = [
            f"{self.exchange}.node.{self.node_id}",
            self.dead_letter_queue,
            *sorted(self._service_queues),
        ]
        for name in names:
            await channel.queue_delete(name)
        await channel.exchange_delete(self.exchange)
        await channel.exchange_delete(self.dead_letter_exchange)

    def _message(
        self, body: bytes, headers: dict[str, Any], out_like: RawMessage | Outbound
    ) -> aio_pika.Message:
        persistent = out_like.persistent if isinstance(out_like, Outbound) else True
        return aio_pika.Message(
            body,
            headers=headers,
            message_id=out_like.message_id or None,
            correlation_id=out_like.correlation_id or None,
            reply_to=out_like.reply_to or None,
            content_type="application/octet-stream",
            delivery_mode=(
                aio_pika.DeliveryMode.PERSISTENT
                if persistent
                else aio_pika.DeliveryMode.NOT_PERSISTENT
            ),
        )

    async def _publish(self, out: Outbound, *, mandatory: bool) -> None:
        self._check_open()
        assert self._channel is not None
        assert self._exchange is not None
        exchange = self._exchange if out.exchange else self._channel.default_exchange
        message = self._message(out.body, dict(out.headers), out)
        try:
            await exchange.publish(
                message,
                routing_key=out.routing_key,
                mandatory=mandatory,
                timeout=self.publish_timeout,
            )
        except aiormq.exceptions.PublishError:
            raise Unroutable(out.routing_key) from None
        except _PUBLISH_ERRORS as exc:
            raise PublishFailed(
                f"{out.routing_key!r} was not confirmed by the broker: {exc!r}"
            ) from exc

    async def _publish_dead_letter(self, raw: RawMessage, headers: dict[str, object]) -> None:
        assert self._dlx is not None
        try:
            await self._dlx.publish(
                self._message(raw.body, headers, raw),
                routing_key=raw.routing_key,
                mandatory=True,
                timeout=self.publish_timeout,
            )
        except aiormq.exceptions.PublishError:
            raise Unroutable(self.dead_letter_exchange) from None
        except _PUBLISH_ERRORS as exc:
            raise PublishFailed(f"dead letter {raw.message_id} was not confirmed: {exc!r}") from exc

    async def _consume(
        self, queue: AbstractQueue, callback: Callable[[AbstractIncomingMessage], Awaitable[None]]
    ) -> Subscription:
        tag = await queue.consume(callback, no_ack=False)
        subscription = _AmqpSubscription(queue, tag)
        self._subscriptions.append(subscription)
        return subscription

    async def _serve(
        self, queue: AbstractQueue, kind: Literal["node", "service"], handler: Handler
    ) -> Subscription:
        async def on_message(message: AbstractIncomingMessage) -> None:
            # Not message.process(): it rejects without requeue on any exception,
            # cancellation included. The consumer's rules settle every message.
            await self._process(_raw(message, queue.name), _Settle(message), kind, handler)

        return await self._consume(queue, on_message)

    async def serve_node(self, handler: Handler) -> Subscription:
        self._check_open()
        assert self._node_queue is not None
        return await self._serve(self._node_queue, "node", handler)

    async def serve_service(self, name: str, handler: Handler) -> Subscription:
        self._check_open()
        assert self._channel is not None
        assert self._exchange is not None
        queue = await self._channel.declare_queue(
            f"{self.exchange}.service.{name}", durable=True, arguments=self._work_queue_arguments()
        )
        await queue.bind(self._exchange, routing_key=f"service.{name}")
        self._service_queues.add(queue.name)
        return await self._serve(queue, "service", handler)

    async def serve_dead_letters(self, handler: DeadLetterHandler) -> Subscription:
        self._check_open()
        assert self._dead_queue is not None
        queue = self._dead_queue

        async def on_message(message: AbstractIncomingMessage) -> None:
            await handler(self._read_dead_letter(_raw(message, queue.name)))
            await message.ack()

        return await self._consume(queue, on_message)
