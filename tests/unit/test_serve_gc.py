"""``Node.serve`` owns the process: once the root runs, start-up's objects leave the GC's way."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator

import pytest

from enotime import Actor, Node, child, supervisor
from enotime._cli import _parser

WAIT = 5.0


class Idle(Actor):
    """A child that only has to be running."""


class _Running(logging.Handler):
    """Sets ``seen`` on the node's "running" line: ``serve`` has started the root."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "running" in record.getMessage():
            self.seen.set()


@pytest.fixture
def running() -> Iterator[_Running]:
    handler = _Running()
    logger = logging.getLogger("enotime.node")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def serve_until_running(node: Node, running: _Running, **options: bool) -> asyncio.Task[int]:
    tree = supervisor("root", [child(Idle, name="idle")], name="root")
    serving = asyncio.ensure_future(node.serve(tree, **options))
    async with asyncio.timeout(WAIT):
        # Resumes after serve's step that logged "running" -- and froze -- has finished.
        await running.seen.wait()
    return serving


async def test_the_objects_of_start_up_are_frozen_while_serving_and_thawed_after(
    node: Node, running: _Running
) -> None:
    assert gc.get_freeze_count() == 0
    serving = await serve_until_running(node, running)

    assert gc.get_freeze_count() > 0  # modules, the tree: out of the full collections' way
    node.request_stop()
    assert await asyncio.wait_for(serving, WAIT) == 0
    assert gc.get_freeze_count() == 0  # whatever the node left behind can be collected


async def test_freeze_gc_false_leaves_the_collector_alone(node: Node, running: _Running) -> None:
    serving = await serve_until_running(node, running, freeze_gc=False)

    assert gc.get_freeze_count() == 0
    node.request_stop()
    assert await asyncio.wait_for(serving, WAIT) == 0


def test_enotime_run_freezes_unless_told_not_to() -> None:
    assert _parser().parse_args(["run", "supervisors.demo:tree"]).gc_freeze is True
    args = _parser().parse_args(["run", "supervisors.demo:tree", "--no-gc-freeze"])
    assert args.gc_freeze is False
