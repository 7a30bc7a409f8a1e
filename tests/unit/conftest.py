"""Fixtures for the kernel's unit tests: a fresh node per test, checked for leaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from enotime import Node
from enotime.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def node(clock: ManualClock) -> AsyncIterator[Node]:
    """A node on a hand-moved clock; after the test every actor and task must be gone."""
    async with Node("test", clock=clock, shutdown_timeout=2.0) as node:
        yield node
    assert node.statistics().actors_alive == 0
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not leaked, f"tasks leaked past the node: {leaked}"
