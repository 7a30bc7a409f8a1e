"""``Node.serve`` owns the process: once the root runs, start-up's objects leave the GC's way."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from enotime import Actor, Node, child, supervisor
from enotime._cli import _parser
from tests.unit._log_lines import LogLines, log_lines

WAIT = 5.0


class Idle(Actor):
    """A child that only has to be running."""


@pytest.fixture
def running() -> Iterator[LogLines]:
    """The node's "running" line: ``serve`` has started the root."""
    with log_lines("enotime.node", "running") as lines:
        yield lines


async def serve_until_running(node: Node, running: LogLines, **options: bool) -> asyncio.Task[int]:
    tree = supervisor("root", [child(Idle, name="idle")], name="root")
    serving = asyncio.ensure_future(node.serve(tree, **options))
    async with asyncio.timeout(WAIT):
        # Resumes after serve's step that logged "running" -- and froze -- has finished.
        await running.seen.wait()
    return serving


async def test_the_objects_of_start_up_are_frozen_while_serving_and_thawed_after(
    node: Node, running: LogLines
) -> None:
    assert gc.get_freeze_count() == 0
    serving = await serve_until_running(node, running)

    assert gc.get_freeze_count() > 0  # modules, the tree: out of the full collections' way
    node.request_stop()
    assert await asyncio.wait_for(serving, WAIT) == 0
    assert gc.get_freeze_count() == 0  # whatever the node left behind can be collected


async def test_freeze_gc_false_leaves_the_collector_alone(node: Node, running: LogLines) -> None:
    serving = await serve_until_running(node, running, freeze_gc=False)

    assert gc.get_freeze_count() == 0
    node.request_stop()
    assert await asyncio.wait_for(serving, WAIT) == 0


def test_enotime_run_freezes_unless_told_not_to() -> None:
    assert _parser().parse_args(["run", "supervisors.demo:tree"]).gc_freeze is True
    args = _parser().parse_args(["run", "supervisors.demo:tree", "--no-gc-freeze"])
    assert args.gc_freeze is False
