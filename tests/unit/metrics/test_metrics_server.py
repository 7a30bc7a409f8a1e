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
from pathlib import Path
from typing import NoReturn

import pytest
from prometheus_client import CollectorRegistry

from enotime import Node, count_children, supervisor
from enotime.errors import StartFailed
from enotime.metrics import (
    SERVER_NAME,
    GetAddress,
    measure,
    metrics_child,
    server_address,
    start_metrics,
)

from ._support import TIMEOUT, http_request, key, samples

ROOT = Path(__file__).resolve().parents[3]


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
    node: Node, registry: CollectorRegistry, require_service: Callable[[str], NoReturn]
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        require_service("promtool not found (Debian package `prometheus`)")
    await start_metrics(node, 0, registry=registry)
    with measure("promtool_check", registry=registry):
        pass
    host, port = await server_address(node)
    body = (await http_request(host, port, "/metrics", headers={"Accept": "text/plain"})).body
    assert b"enotime_app_promtool_check_total" in body
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
        url = ""
        async with asyncio.timeout(30):
            while not url:
                line = (await process.stderr.readline()).decode()
                assert line, "enotime run exited before serving /metrics"
                if "serving /metrics on " in line:
                    url = line.split("serving /metrics on ")[1].strip()
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
