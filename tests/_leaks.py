"""A node that must leave nothing behind: every actor stopped, every task it started done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from enotime import Node
from enotime.testing import ManualClock


@contextlib.asynccontextmanager
async def leak_checked_node(
    name: str, clock: ManualClock, *, shutdown_timeout: float
) -> AsyncIterator[Node]:
    """A node on ``clock``; once it is closed, no actor may be alive and no task running."""
    async with Node(name, clock=clock, shutdown_timeout=shutdown_timeout) as node:
        yield node
    assert node.statistics().actors_alive == 0
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not leaked, f"tasks leaked past the node: {leaked}"
