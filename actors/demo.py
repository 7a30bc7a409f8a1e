"""The demo's driver: a producer of jobs and a reporter that ends the run."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from actors.jobs import QUEUE, GetProgress, Job, Submit
from enotime import Actor, handler

log = logging.getLogger("demo.report")


@dataclass(frozen=True)
class _Produce:
    next_id: int


@dataclass(frozen=True)
class _Report:
    pass


class Producer(Actor):
    """Submits ``count`` jobs (None: forever), one every ``interval`` seconds.

    Every ``poison_every``-th job is poisoned: it crashes any worker that takes it.
    """

    def __init__(
        self, count: int | None = 24, interval: float = 0.05, poison_every: int = 10
    ) -> None:
        self.count = count
        self.interval = interval
        self.poison_every = poison_every

    async def on_start(self) -> None:
        self.send_after(0, _Produce(1))

    @handler
    def produce(self, msg: _Produce) -> None:
        job = Job(msg.next_id, poisoned=msg.next_id % self.poison_every == 0)
        self.node.lookup(QUEUE).send(Submit(job))
        if self.count is None or msg.next_id < self.count:
            self.send_after(self.interval, _Produce(msg.next_id + 1))
        else:
            self.stop()  # a transient child: done, not restarted


class Reporter(Actor):
    """Logs progress every ``every`` seconds; stops the node once ``expected`` jobs settled.

    With ``expected=None`` it reports forever (the long-running service).
    """

    def __init__(self, expected: int | None = 24, every: float = 0.5) -> None:
        self.expected = expected
        self.every = every

    async def on_start(self) -> None:
        self.send_after(self.every, _Report())

    @handler
    async def report(self, msg: _Report) -> None:
        p = await self.node.lookup(QUEUE).call(GetProgress())
        log.info(
            "progress: %d/%s done, %d waiting, %d in progress, %d retried, %d dead",
            p.done,
            self.expected if self.expected is not None else "-",
            p.waiting,
            p.in_progress,
            p.retries,
            p.dead,
        )
        if self.expected is not None and p.done + p.dead >= self.expected:
            stats = self.node.statistics()
            log.info(
                "all %d jobs settled: %d done, %d dead after retries; %d actors crashed and "
                "were restarted along the way. Stopping.",
                self.expected,
                p.done,
                p.dead,
                stats.crashed_total,
            )
            self.node.request_stop()
        else:
            self.send_after(self.every, _Report())
