"""``/metrics`` over real HTTP on 127.0.0.1, served by a supervised actor."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from prometheus_client import CollectorRegistry

from enotime import Node, count_children, supervisor
from enotime.auth import PasswordHasher
from enotime.crypto import CryptoClient, CryptoService, EmbeddedCryptoEngine
from enotime.edge import EdgeConfig, FrontService, RateLimit, Where
from enotime.errors import StartFailed
from enotime.login import DOCUMENT_TYPES, LoginConfig, LoginService
from enotime.login import endpoints as login_endpoints
from enotime.mail import MailerService, Outbox
from enotime.messages import Request
from enotime.metrics import (
    API_METRICS,
    CRYPTO_METRICS,
    LOGIN_METRICS,
    SERVER_NAME,
    STORE_METRICS,
    TRANSPORT_METRICS,
    GetAddress,
    measure,
    metrics_child,
    server_address,
    start_metrics,
)
from enotime.store import DocumentType, NotFound, Record, SQLiteStore, StoreClient, StoreService
from enotime.transport import LocalBroker, LocalTransport, RemoteError, message

from ._support import TIMEOUT, http_request, key, samples

ROOT = Path(__file__).resolve().parents[3]
NOTES = DocumentType("note", indexed=frozenset({"owner"}))


@message("test.metrics.server.Ping", version=1)
@dataclass(frozen=True)
class Ping(Request[None]):
    pass


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


async def test_get_metrics_over_loopback(node: Node, registry: CollectorRegistry) -> None:
    await start_metrics(node, 0, registry=registry)
    host, port = await server_address(node)
    assert host == "127.0.0.1"
    response = await http_request(host, port, "/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert int(response.headers["content-length"]) == len(response.body)
    found = samples(response.body)
    assert found[key("enotime_node_info", node="test")] == 1
    assert found[key("enotime_actor_alive", actor_class="MetricsServer")] == 1
    assert (
        found[
            key(
                "enotime_supervisor_restarts_total",
                supervisor=f"{SERVER_NAME}.supervisor",
                child="metrics",
            )
        ]
        == 0
    )


async def test_openmetrics_head_and_errors(node: Node, registry: CollectorRegistry) -> None:
    await start_metrics(node, 0, registry=registry)
    host, port = await server_address(node)
    open_metrics = await http_request(
        host,
        port,
        "/metrics?x=1",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert open_metrics.status == 200
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.body.endswith(b"# EOF\n")
    head = await http_request(host, port, "/metrics", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert int(head.headers["content-length"]) > 0
    assert (await http_request(host, port, "/")).status == 404
    post = await http_request(host, port, "/metrics", method="POST")
    assert post.status == 405
    assert post.headers["allow"] == "GET, HEAD"
    huge = await http_request(host, port, "/metrics", headers={"X-Big": "y" * 20_000})
    assert huge.status == 431


async def test_the_server_is_restarted_by_its_supervisor(
    node: Node, registry: CollectorRegistry
) -> None:
    sup = await node.start(supervisor("root", [metrics_child(0, registry=registry)], name="root"))
    server = node.lookup(SERVER_NAME)
    node.kill(server)
    await server.wait_stopped(timeout=TIMEOUT)
    assert (await count_children(sup)).restarts_total == 1
    host, port = await node.lookup(SERVER_NAME).call(GetAddress())
    found = samples((await http_request(host, port, "/metrics")).body)
    assert found[key("enotime_supervisor_restarts_total", supervisor="root", child="metrics")] == 1


async def test_a_taken_port_fails_the_start(node: Node, registry: CollectorRegistry) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartFailed):
            await start_metrics(node, port, registry=registry)
    await start_metrics(node, 0, registry=registry)  # the failed start left nothing behind


async def test_promtool_accepts_our_output(
    registry: CollectorRegistry, tmp_path: Path, require_service: Callable[[str], NoReturn]
) -> None:
    """Every family a node can expose: its own, its transport's, its store, crypto and
    login actors' and its front's (with a little HTTP traffic)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        require_service("promtool not found (Debian package `prometheus`)")
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")
    for share in await engine.initialize(shares=1, threshold=1):
        await engine.submit_unseal_share(share)
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, max_threads=1)
    async with (
        await SQLiteStore.open(tmp_path / "store.sqlite") as store,
        LocalTransport(LocalBroker(), "promtool") as transport,
        Node("promtool") as node,
    ):
        await start_metrics(node, 0, registry=registry)
        await node.connect(transport)
        with measure("promtool_check", registry=registry):
            crypto = CryptoClient(await node.spawn(CryptoService, engine, name="crypto"))
            records = StoreClient(
                await node.spawn(
                    StoreService, store, crypto, [NOTES, *DOCUMENT_TYPES], name="store"
                )
            )
            await records.put(Record("a", "note", {"owner": "ann"}))
            with pytest.raises(NotFound):
                await records.get("missing")
            with pytest.raises(RemoteError):
                await node.remote("promtool", "nobody").call(Ping(), timeout=TIMEOUT)
        await _api_and_login_traffic(node, hasher)
        host, port = await server_address(node)
        body = (await http_request(host, port, "/metrics", headers={"Accept": "text/plain"})).body
    await hasher.aclose()
    for name in ("enotime_app_promtool_check_total", *TRANSPORT_METRICS, *STORE_METRICS):
        assert name.encode() in body, name
    for name in (*CRYPTO_METRICS, *API_METRICS, *LOGIN_METRICS):
        assert name.encode() in body, name
    assert b'enotime_api_rate_limited_total{route="/auth/register"} 1.0' in body
    check = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(TIMEOUT):
        output, _ = await check.communicate(body)
    assert check.returncode == 0, output.decode()


async def _api_and_login_traffic(node: Node, hasher: PasswordHasher) -> None:
    """A login actor and a front on ``node``, and a few requests: answered, refused, limited."""
    await node.spawn(MailerService, Outbox(stream=None), name="mailer")
    await node.spawn(LoginService, LoginConfig(), hasher=hasher, name="login")
    routes = login_endpoints(strict_limit=RateLimit(1, 60.0))
    front = await node.spawn(FrontService, routes, EdgeConfig(), name="front")
    address = await front.call(Where())
    credentials = {"email": "ann@example.com", "password": "correct horse battery"}
    async with httpx.AsyncClient(base_url=address.url, timeout=TIMEOUT) as client:
        assert (await client.post("/auth/register", json=credentials)).status_code == 202
        assert (await client.post("/auth/register", json=credentials)).status_code == 429
        assert (await client.post("/auth/login", json=credentials)).status_code == 403  # unverified
        wrong = {**credentials, "password": "not the password at all"}
        assert (await client.post("/auth/login", json=wrong)).status_code == 401
        assert (await client.get("/auth/me")).status_code == 401
        assert (await client.get("/no/such/route")).status_code == 404


async def test_enotime_run_serves_metrics(tmp_path: Path) -> None:
    (tmp_path / "quiet.py").write_text(
        textwrap.dedent(
            """
            from enotime import Actor, child, supervisor

            class Idle(Actor):
                pass

            tree = supervisor("root", [child(Idle, id="idle")], name="root")
            """
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enotime",
        "run",
        "quiet:tree",
        "--metrics-port",
        "0",
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stderr is not None
        url, running = "", False
        async with asyncio.timeout(30):
            # /metrics is served before the tree starts: wait for both.
            while not (url and running):
                line = (await process.stderr.readline()).decode()
                assert line, "enotime run exited before serving /metrics and running its tree"
                if "serving /metrics on " in line:
                    url = line.split("serving /metrics on ")[1].strip()
                running = running or "node enotime: running <Supervisor" in line
        host_port = url.removeprefix("http://").removesuffix("/metrics")
        host, _, port = host_port.rpartition(":")
        assert host == "127.0.0.1"
        found = samples((await http_request(host, int(port), "/metrics")).body)
        assert found[key("enotime_actor_alive", actor_class="Idle")] == 1
        assert ("process_cpu_seconds_total", frozenset()) in found  # the default registry
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.stderr.read()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
