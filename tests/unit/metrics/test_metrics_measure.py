"""``@timed`` and ``measure``: count and time user code under one naming convention."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from enotime import Actor, Node, handler
from enotime.messages import Request
from enotime.metrics import measure, meter, timed

from ._support import key, scrape

HANDLER_REGISTRY = CollectorRegistry()
"""Where the handler below registers: decorators run when the class is defined."""


@dataclass(frozen=True)
class Price(Request[int]):
    sku: str


class Catalogue(Actor):
    @handler
    @timed("price_lookup", registry=HANDLER_REGISTRY)
    async def price(self, msg: Price) -> int:
        if msg.sku == "missing":
            raise LookupError(msg.sku)
        return 42

    @timed("stock_lookup", registry=HANDLER_REGISTRY)
    @handler
    def stock(self, msg: str) -> int:
        return 7


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_timed_counts_outcomes_and_times_a_plain_function(registry: CollectorRegistry) -> None:
    @timed("checkout", registry=registry)
    def checkout(amount: int) -> int:
        if amount < 0:
            raise ValueError("negative")
        return amount

    assert checkout(3) == 3
    assert checkout(4) == 4
    with pytest.raises(ValueError, match="negative"):
        checkout(-1)
    assert checkout.__name__ == "checkout"
    samples = scrape(registry)
    assert samples[key("enotime_app_checkout_total", outcome="ok")] == 2
    assert samples[key("enotime_app_checkout_total", outcome="error")] == 1
    assert samples[key("enotime_app_checkout_total", outcome="cancelled")] == 0
    assert samples[key("enotime_app_checkout_duration_seconds_count")] == 3
    assert samples[key("enotime_app_checkout_duration_seconds_bucket", le="+Inf")] == 3


async def test_timed_wraps_coroutines_and_counts_cancellation(registry: CollectorRegistry) -> None:
    started = asyncio.Event()

    @timed("fetch", subsystem="billing", namespace="shop", registry=registry)
    async def fetch(block: bool) -> str:
        if block:
            started.set()
            await asyncio.Event().wait()
        return "ok"

    assert await fetch(False) == "ok"
    task = asyncio.create_task(fetch(True))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    samples = scrape(registry)
    assert samples[key("shop_billing_fetch_total", outcome="ok")] == 1
    assert samples[key("shop_billing_fetch_total", outcome="cancelled")] == 1
    assert samples[key("shop_billing_fetch_duration_seconds_count")] == 2


def test_measure_counts_and_times_a_block(registry: CollectorRegistry) -> None:
    with measure("report", registry=registry):
        pass
    block = measure("report", registry=registry)
    with pytest.raises(KeyError), block:
        raise KeyError("x")
    with block:  # may be entered again once it has exited
        pass
    samples = scrape(registry)
    assert samples[key("enotime_app_report_total", outcome="ok")] == 2
    assert samples[key("enotime_app_report_total", outcome="error")] == 1
    assert samples[key("enotime_app_report_duration_seconds_count")] == 3
    assert samples[key("enotime_app_report_duration_seconds_sum")] >= 0


def test_one_name_is_one_pair_of_metrics(registry: CollectorRegistry) -> None:
    first = meter("upload", registry=registry, description="an upload")
    assert meter("upload", registry=registry) is first
    assert first.name == "enotime_app_upload"
    with measure("upload", registry=registry):
        pass

    @timed("upload", registry=registry)
    def upload() -> None:
        pass

    upload()
    assert scrape(registry)[key("enotime_app_upload_total", outcome="ok")] == 2
    assert meter("upload", registry=CollectorRegistry()) is not first


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("Checkout", {}),
        ("check-out", {}),
        ("checkout_total", {}),
        ("latency_seconds", {}),
        ("checkout", {"subsystem": "App"}),
        ("checkout", {"namespace": "9lives"}),
    ],
)
def test_names_follow_the_convention(
    registry: CollectorRegistry, name: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"snake case|suffixes"):
        meter(name, registry=registry, **options)


async def test_timed_on_handlers_gives_per_handler_metrics(node: Node) -> None:
    catalogue = await node.spawn(Catalogue)
    assert await catalogue.call(Price("tea")) == 42
    with pytest.raises(Exception, match="missing"):
        await catalogue.call(Price("missing"))
    samples = scrape(HANDLER_REGISTRY)
    assert samples[key("enotime_app_price_lookup_total", outcome="ok")] >= 1
    assert samples[key("enotime_app_price_lookup_total", outcome="error")] >= 1
    await catalogue.wait_stopped(timeout=5)  # the LookupError crashed it: let it crash

    catalogue = await node.spawn(Catalogue)
    assert await catalogue.call("how many?") == 7
    assert scrape(HANDLER_REGISTRY)[key("enotime_app_stock_lookup_total", outcome="ok")] >= 1
