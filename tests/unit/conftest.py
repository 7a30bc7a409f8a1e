"""Fixtures for the kernel's unit tests: a fresh node per test, checked for leaks; a log stream."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from enotime import Node
from enotime.testing import ManualClock
from tests._leaks import leak_checked_node


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def node(clock: ManualClock) -> AsyncIterator[Node]:
    """A node on a hand-moved clock; after the test every actor and task must be gone."""
    async with leak_checked_node("test", clock, shutdown_timeout=2.0) as node:
        yield node


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream ``configure_logging`` writes to; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield io.StringIO()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
