"""Remote calls over RabbitMQ between two node processes, beside raw aio-pika RPC.

Run ``python benchmarks/cluster.py [--quick] [--json]`` with RabbitMQ on
``ENOTIME_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672/``; start it
with ``scripts/services/rabbitmq start``). A server process (this file with
``--serve``) hosts both sides' servers; this process is the client. Each
repetition measures, one after the other so that pairs share the machine load:

- ENoTime, the way user code calls: ``node.service("bench-actor").call(...)``
  from a node of this process to an actor of a node of the other process
  (a ``RemoteRef``: the gateways on both sides, the actor's mailbox, the
  request context) — envelope encryption (AES-256-GCM), typed message,
  publisher confirms, mandatory publishing, manual ack after the handler,
  quorum service queue. The targets apply to this path;
- ENoTime's transport alone: ``AmqpTransport.call`` to a service whose handler
  answers directly (no node, no actor), to show what the gateway costs;
- the peer, raw aio-pika RPC as in the RabbitMQ tutorial: a request queue and
  an exclusive reply queue, publisher confirms (aio-pika's default), the same
  queue type and arguments as ours, ack after the reply is published, the same
  payload size, no encryption.

Both sequential (one call at a time) and with 64 calls in flight; round trips
per second and per-call latency p50/p99. The server is stopped and reaped by
PID at the end (``_common.reap_marked``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    MARKER_ENV,
    Report,
    Row,
    median,
    paired_ratio,
    parse_args,
    percentile,
    reap_marked,
    run_marker,
    stdout_to_stderr,
    time_calls,
)

from enotime import Actor, Node, handler
from enotime.messages import Request
from enotime.transport import Address, AmqpTransport, Delivery, Keyring, message

ROOT = Path(__file__).resolve().parents[1]
URL = os.environ.get("ENOTIME_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
IN_FLIGHT = 64
CALL_TIMEOUT = 300.0
"""Seconds one measured series of calls may take in all."""
PAYLOAD = "x" * 100
TARGETS = {
    "sequential_vs_aio_pika": ">= 0.8",
    "inflight64_vs_aio_pika": ">= 0.8",
}


@message("bench.cluster.Ping", version=1)
@dataclass(frozen=True)
class Ping(Request[str]):
    text: str


class EchoActor(Actor):
    """The served actor: answers a ping with its text."""

    @handler
    def ping(self, msg: Ping) -> str:
        return msg.text


def _queue_arguments(exchange: str) -> dict[str, Any]:
    # The same arguments AmqpTransport gives its service queues (max_deliveries=5).
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": f"{exchange}.dlx",
        "x-delivery-limit": 5,
    }


# -- the server process ---------------------------------------------------------------


async def serve(exchange: str, raw_queue: str) -> None:
    """Serve the ENoTime service and the raw RPC queue until SIGTERM or stdin closes."""
    import aio_pika

    transport = AmqpTransport(URL, "bench-server", keyring=Keyring.from_env(), exchange=exchange)
    await transport.open()

    async def echo(delivery: Delivery) -> object:
        assert isinstance(delivery.message, Ping)
        return delivery.message.text

    await transport.serve_service("bench", echo)

    node_transport = AmqpTransport(
        URL, "bench-server-node", keyring=Keyring.from_env(), exchange=exchange
    )
    await node_transport.open()
    node = Node("bench-server-node")
    await node.spawn(EchoActor, name="echo")
    gateway = await node.connect(node_transport)
    await gateway.expose("bench-actor", "echo")

    connection = await aio_pika.connect_robust(URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=64)
    queue = await channel.declare_queue(
        raw_queue, durable=True, arguments=_queue_arguments(exchange)
    )

    async def on_request(request: aio_pika.abc.AbstractIncomingMessage) -> None:
        assert request.reply_to is not None
        await channel.default_exchange.publish(
            aio_pika.Message(request.body, correlation_id=request.correlation_id),
            routing_key=request.reply_to,
            mandatory=False,
        )
        await request.ack()

    await queue.consume(on_request)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)  # the client went away
    print("ready", flush=True)
    await stop.wait()
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    await node.aclose()
    await node_transport.delete_topology()
    await node_transport.aclose()
    await transport.delete_topology()
    await transport.aclose()


# -- the client ---------------------------------------------------------------------------


class RawClient:
    """The peer: raw aio-pika RPC with a request queue and an exclusive reply queue."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.pending: dict[str, asyncio.Future[bytes]] = {}

    async def open(self) -> None:
        import aio_pika

        self.connection = await aio_pika.connect_robust(URL)
        self.channel = await self.connection.channel()
        replies = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        self.reply_to = replies.name

        async def on_reply(reply: aio_pika.abc.AbstractIncomingMessage) -> None:
            future = self.pending.pop(reply.correlation_id or "", None)
            if future is not None and not future.done():
                future.set_result(reply.body)

        await replies.consume(on_reply, no_ack=True)

    async def call(self, body: bytes) -> bytes:
        import aio_pika

        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[correlation_id] = future
        await self.channel.default_exchange.publish(
            aio_pika.Message(
                body,
                correlation_id=correlation_id,
                reply_to=self.reply_to,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self.queue,
        )
        async with asyncio.timeout(30):
            return await future

    async def aclose(self) -> None:
        await self.connection.close()


def start_server(
    exchange: str, raw_queue: str, keyring: Keyring, marker: str
) -> subprocess.Popen[bytes]:
    """The server process, marked for reaping; it prints ``ready`` and stops when stdin closes."""
    env = {
        **os.environ,
        MARKER_ENV: marker,
        "ENOTIME_WIRE_KEYS": keyring.key("bench").encoded(),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, __file__, "--serve", "--exchange", exchange, "--raw-queue", raw_queue],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


async def client(args: argparse.Namespace, marker: str) -> Report:
    exchange = f"enotime-bench-{uuid.uuid4().hex[:8]}"
    raw_queue = f"{exchange}.raw-rpc"
    keyring = Keyring.generate("bench")
    server = await asyncio.to_thread(start_server, exchange, raw_queue, keyring, marker)
    report = Report("cluster", targets=dict(TARGETS))
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), 60)
        if line.strip() != b"ready":
            raise RuntimeError("the server process did not start")
        transport = AmqpTransport(URL, "bench-client", keyring=keyring, exchange=exchange)
        await transport.open()
        node_transport = AmqpTransport(URL, "bench-client-node", keyring=keyring, exchange=exchange)
        await node_transport.open()
        node = Node("bench-client-node")
        await node.connect(node_transport)
        service = node.service("bench-actor")
        raw = RawClient(raw_queue)
        await raw.open()
        to = Address.service("bench")
        ping = Ping(PAYLOAD)
        body = PAYLOAD.encode()

        async def ours() -> object:
            return await service.call(ping, timeout=30)

        async def transport_only() -> object:
            return await transport.call(to, ping, timeout=30)

        async def peers() -> object:
            return await raw.call(body)

        repetitions = args.repetitions or (3 if args.quick else 5)
        sequential = 150 if args.quick else 600
        pipelined = 1000 if args.quick else 4000
        # warm-up: connections, queues, code paths
        contenders = (("enotime", ours), ("transport", transport_only), ("aio_pika", peers))
        for _, fn in contenders:
            await time_calls(fn, 50, 8, timeout=CALL_TIMEOUT)
        series: dict[str, list[float | None]] = {}
        for rep in range(repetitions):
            for name, fn in contenders[:: 1 if rep % 2 else -1]:
                for mode, count, width in (
                    ("sequential", sequential, 1),
                    ("inflight64", pipelined, IN_FLIGHT),
                ):
                    rate, latencies = await time_calls(fn, count, width, timeout=CALL_TIMEOUT)
                    series.setdefault(f"{name}_{mode}_roundtrips_per_s", []).append(rate)
                    series.setdefault(f"{name}_{mode}_p50_ms", []).append(
                        percentile(latencies, 0.5) * 1000
                    )
                    series.setdefault(f"{name}_{mode}_p99_ms", []).append(
                        percentile(latencies, 0.99) * 1000
                    )
        await raw.aclose()
        await node.aclose()
        await node_transport.delete_topology()
        await node_transport.aclose()
        await transport.delete_topology()
        await transport.aclose()
    finally:
        if server.poll() is None:
            assert server.stdin is not None
            server.stdin.close()  # the server stops when its stdin closes
            try:
                await asyncio.to_thread(server.wait, 30)
            except subprocess.TimeoutExpired:
                server.terminate()
                await asyncio.to_thread(server.wait, 10)
        killed = reap_marked(marker, grace=2.0)
        if killed:
            report.notes.append(f"had to kill leftover processes {killed}")

    for key, values in series.items():
        report.figures[key] = median(values)
    for mode in ("sequential", "inflight64"):
        report.ratios[f"{mode}_vs_aio_pika"] = paired_ratio(
            series[f"enotime_{mode}_roundtrips_per_s"], series[f"aio_pika_{mode}_roundtrips_per_s"]
        )
        report.ratios[f"transport_{mode}_vs_aio_pika"] = paired_ratio(
            series[f"transport_{mode}_roundtrips_per_s"],
            series[f"aio_pika_{mode}_roundtrips_per_s"],
        )
        label = "sequential" if mode == "sequential" else f"{IN_FLIGHT} in flight"
        report.rows += [
            Row(
                f"round trips/s, {label}",
                f"enotime_{mode}_roundtrips_per_s",
                f"aio_pika_{mode}_roundtrips_per_s",
                f"{mode}_vs_aio_pika",
                f"{mode}_vs_aio_pika",
            ),
            Row(f"  p50 ms, {label}", f"enotime_{mode}_p50_ms", f"aio_pika_{mode}_p50_ms"),
            Row(f"  p99 ms, {label}", f"enotime_{mode}_p99_ms", f"aio_pika_{mode}_p99_ms"),
            Row(
                f"  transport alone, {label}",
                f"transport_{mode}_roundtrips_per_s",
                f"aio_pika_{mode}_roundtrips_per_s",
                f"transport_{mode}_vs_aio_pika",
            ),
        ]
    report.notes.append(
        f"{repetitions} repetitions; two processes on one broker; quorum request queues both "
        "sides; ENoTime encrypts every envelope (AES-256-GCM), the peer sends plain bytes; "
        "'enotime' is a RemoteRef call node to actor, 'transport alone' AmqpTransport.call"
    )
    return report


def _extend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--exchange", help=argparse.SUPPRESS)
    parser.add_argument("--raw-queue", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, _extend)
    if args.serve:
        asyncio.run(serve(args.exchange, args.raw_queue))
        return 0
    with stdout_to_stderr(args.json):
        try:
            report = asyncio.run(client(args, run_marker()))
        except (OSError, ConnectionError) as exc:
            report = Report("cluster", targets=dict(TARGETS))
            report.missing = {name: f"RabbitMQ unreachable at {URL}: {exc}" for name in TARGETS}
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
