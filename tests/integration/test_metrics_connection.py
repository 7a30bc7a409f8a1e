"""``enotime_transport_connected`` follows the broker link: 0 once it is cut, 1 once it is back.

A TCP proxy between the node and RabbitMQ (the one of ``test_amqp_transport``)
cuts the link and refuses new connections until the test has read the gauge
at 0, so the reading does not race aio-pika's reconnection; then it lets the
robust connection back in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import NoReturn

import pytest
from prometheus_client import CollectorRegistry

from enotime import Node
from enotime.metrics import instrument, uninstrument
from enotime.transport import Keyring
from tests.contract.test_transport import _amqp_answers
from tests.integration.test_amqp_transport import Proxy
from tests.unit.metrics._support import key, scrape

pytestmark = pytest.mark.services

WAIT = 30.0
"""Seconds the link may take to go down, or to come back."""
CONNECTED = key("enotime_transport_connected")
RECONNECTS = key("enotime_transport_reconnects_total")


class GatedProxy(Proxy):
    """The proxy, refusing new connections while ``accepting`` is clear."""

    def __init__(self) -> None:
        super().__init__()
        self.accepting = asyncio.Event()
        self.accepting.set()
        self.refused = asyncio.Event()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting.is_set():
            self.refused.set()
            writer.transport.abort()
            return
        await super()._accept(reader, writer)


@pytest.fixture
async def proxy(require_service: Callable[[str], NoReturn]) -> AsyncIterator[GatedProxy]:
    if (reason := _amqp_answers()) is not None:
        require_service(reason)
    made = GatedProxy()
    await made.start()
    try:
        yield made
    finally:
        await made.aclose()


async def test_the_connected_gauge_reads_0_while_the_broker_link_is_down(
    proxy: GatedProxy,
) -> None:
    from enotime.transport import AmqpTransport

    transport = AmqpTransport(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
        "metrics-link",
        keyring=Keyring.generate("metrics-link"),
        exchange=f"enotime-test-{uuid.uuid4().hex[:12]}",
        reconnect_interval=0.1,
    )
    await transport.open()
    registry = CollectorRegistry()
    try:
        async with Node("metrics-link", shutdown_timeout=5.0) as node:
            await node.connect(transport)
            instrument(node, registry)
            try:
                assert scrape(registry)[CONNECTED] == 1
                assert scrape(registry)[RECONNECTS] == 0
                down, back = asyncio.Event(), asyncio.Event()
                connection = transport.connection
                connection.close_callbacks.add(lambda *_: down.set())
                # Added after the transport's own callback: once it ran, the transport
                # has counted the reconnection.
                connection.reconnect_callbacks.add(lambda *_: back.set())

                proxy.accepting.clear()
                proxy.cut()
                async with asyncio.timeout(WAIT):
                    await down.wait()
                    await proxy.refused.wait()  # it tried to come back, and could not
                assert scrape(registry)[CONNECTED] == 0

                proxy.accepting.set()
                async with asyncio.timeout(WAIT):
                    await back.wait()
                samples = scrape(registry)
                assert (samples[CONNECTED], samples[RECONNECTS]) == (1, 1)
            finally:
                uninstrument(node, registry)
    finally:
        await transport.delete_topology()
        await transport.aclose()
