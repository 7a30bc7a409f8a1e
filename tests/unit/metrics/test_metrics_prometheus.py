"""A real Prometheus server scrapes a running node while traffic flows.

Debian's ``prometheus`` package provides the binary; the test starts it on
loopback with a temporary configuration, queries its HTTP API until the
restart counter shows the restarts made here, and stops it by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import pytest
from prometheus_client import CollectorRegistry

from enotime import Actor, Node, child, count_children, handler, supervisor
from enotime.errors import ActorExited
from enotime.messages import Request
from enotime.metrics import metrics_child, server_address

from ._support import http_request, running_prometheus

pytestmark = pytest.mark.services

READY_TIMEOUT = 30.0
"""Seconds Prometheus gets to become ready, and then to show the restarts."""


@dataclass(frozen=True)
class Work(Request[int]):
    n: int


@dataclass(frozen=True)
class Crash:
    pass


class Worker(Actor):
    metered = True

    @handler
    def work(self, msg: Work) -> int:
        return msg.n * 2

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("crash requested by the test")


@contextlib.asynccontextmanager
async def prometheus_scraping(target: str, workdir: Path) -> AsyncIterator[str]:
    """A Prometheus on loopback scraping ``target`` every 200 ms; yields its base URL."""
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 200ms\n"
        "  scrape_timeout: 150ms\n"
        "scrape_configs:\n"
        "  - job_name: enotime\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    async with running_prometheus(config, workdir, READY_TIMEOUT) as address:
        yield address


@contextlib.asynccontextmanager
async def _explained(why: Callable[[], str]) -> AsyncIterator[None]:
    """A bounded wait whose failure says what was seen."""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            yield
    except TimeoutError:
        pytest.fail(f"not seen within {READY_TIMEOUT:g} s: {why()}")


def targets(prometheus: str) -> str:
    """Prometheus's view of its scrape targets (health, last error), for failure messages."""
    with urllib.request.urlopen(f"http://{prometheus}/api/v1/targets", timeout=5) as answer:
        active = json.loads(answer.read())["data"]["activeTargets"]
    return repr([(t["health"], t["lastError"]) for t in active])


async def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector ``promql`` evaluates to now."""
    host, _, port = prometheus.rpartition(":")
    response = await http_request(host, int(port), f"/api/v1/query?query={quote(promql)}")
    assert response.status == 200, response.body
    answer = json.loads(response.body)
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


async def test_prometheus_sees_a_crash_and_a_restart(
    node: Node, tmp_path: Path, require_service: Callable[[str], NoReturn]
) -> None:
    if shutil.which("prometheus") is None:
        require_service("prometheus not found (Debian package `prometheus`)")
    registry = CollectorRegistry()
    tree = supervisor(
        "root",
        [metrics_child(0, registry=registry), child(Worker, name="worker")],
        name="root",
    )
    root = await node.start(tree)
    host, port = await server_address(node)

    stop_traffic = asyncio.Event()
    crashes_asked = asyncio.Event()

    async def traffic() -> int:
        sent = 0
        while not stop_traffic.is_set():
            worker = node.whereis("worker")
            if worker is not None and worker.is_alive:
                try:
                    assert await worker.call(Work(sent), timeout=1.0) == 2 * sent
                    sent += 1
                except ActorExited:
                    # The crash the test provokes: a call in the worker's mailbox behind the
                    # Crash, or made to it as it died, fails so. Anything else fails the test.
                    assert crashes_asked.is_set()
            await asyncio.sleep(0.005)  # paces the traffic, not a wait -- noqa: sleep-ok
        return sent

    flowing = asyncio.create_task(traffic())
    try:
        async with prometheus_scraping(f"{host}:{port}", tmp_path) as prometheus:
            for expected in (1, 2):
                worker = node.lookup("worker")
                crashes_asked.set()
                worker.send(Crash())
                await worker.wait_stopped(timeout=5)
                assert (await count_children(root)).restarts_total == expected
            restarts = 'enotime_supervisor_restarts_total{supervisor="root",child="worker"}'
            crashes = 'enotime_actor_crashed_total{actor_class="Worker"}'
            handled = 'enotime_actor_messages_handled_total{actor_class="Worker"}'
            latency = 'enotime_actor_handler_duration_seconds_count{handler="work"}'
            seen: dict[str, list[float]] = {}
            async with _explained(lambda: f"Prometheus saw {seen}; targets: {targets(prometheus)}"):
                while True:
                    seen = {
                        promql: [float(s["value"][1]) for s in await query(prometheus, promql)]
                        for promql in (restarts, crashes, handled, latency)
                    }
                    if seen[restarts] == [2.0] and seen[crashes] == [2.0] and seen[latency]:
                        break
                    await asyncio.sleep(0.2)  # polls Prometheus's API -- noqa: sleep-ok
            assert seen[handled][0] > 0
            up = await query(prometheus, 'up{job="enotime"}')
            assert [float(s["value"][1]) for s in up] == [1.0]
    finally:
        stop_traffic.set()
        sent = await flowing
    assert sent > 0
