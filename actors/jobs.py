"""A job queue and its workers: work is handed out, crashes are survived, nothing is lost.

The queue monitors every worker it hands a job to. When a worker dies with a
job in hand, the job goes back to the front of the queue; after
``max_attempts`` failed attempts it is set aside as a dead job, with the
reason, instead of crashing workers forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from enotime import Actor, ActorRef, Monitor, handler
from enotime.messages import Down, Request

log = logging.getLogger("demo.jobs")

QUEUE = "jobs"


@dataclass(frozen=True)
class Job:
    """A unit of work. A ``poisoned`` job crashes whichever worker takes it."""

    id: int
    seconds: float = 0.05
    poisoned: bool = False


@dataclass(frozen=True)
class Submit:
    job: Job


@dataclass(frozen=True)
class Ready:
    """A worker asks for its next job."""

    worker: ActorRef[Worker]


@dataclass(frozen=True)
class Done:
    job: Job
    worker: ActorRef[Worker]


@dataclass(frozen=True)
class Work:
    job: Job


@dataclass(frozen=True)
class Progress:
    """What the queue has seen so far."""

    submitted: int
    done: int
    waiting: int
    in_progress: int
    dead: int
    retries: int


@dataclass(frozen=True)
class GetProgress(Request[Progress]):
    pass


class WorkerCrashed(RuntimeError):
    """What a worker raises on a poisoned job."""


class JobQueue(Actor):
    """Hands jobs to idle workers and takes back the jobs of workers that died."""

    def __init__(self, max_attempts: int = 3) -> None:
        self.max_attempts = max_attempts
        self.waiting: deque[Job] = deque()
        self.idle: deque[ActorRef[Worker]] = deque()
        self.in_progress: dict[ActorRef[Worker], tuple[Job, Monitor]] = {}
        self.attempts: dict[int, int] = {}
        self.submitted = self.done = self.retries = 0
        self.dead: list[Job] = []

    @handler
    def submit(self, msg: Submit) -> None:
        self.submitted += 1
        self.waiting.append(msg.job)
        self._dispatch()

    @handler
    def ready(self, msg: Ready) -> None:
        self.idle.append(msg.worker)
        self._dispatch()

    @handler
    def done_(self, msg: Done) -> None:
        _, monitor = self.in_progress.pop(msg.worker)
        self.demonitor(monitor)
        self.done += 1
        log.info("job %d done by %s", msg.job.id, msg.worker.name or msg.worker)

    @handler
    def worker_down(self, msg: Down) -> None:
        if msg.ref in self.idle:
            self.idle.remove(msg.ref)
        taken = self.in_progress.pop(msg.ref, None)
        if taken is None:
            return
        job = taken[0]
        attempts = self.attempts[job.id] = self.attempts.get(job.id, 0) + 1
        if attempts >= self.max_attempts:
            self.dead.append(job)
            log.error("job %d failed %d times: set aside as a dead job", job.id, attempts)
        else:
            self.retries += 1
            self.waiting.appendleft(job)
            log.warning("job %d lost its worker (%s): queued again", job.id, msg.reason)
        self._dispatch()

    @handler
    def progress(self, msg: GetProgress) -> Progress:
        return Progress(
            self.submitted,
            self.done,
            len(self.waiting),
            len(self.in_progress),
            len(self.dead),
            self.retries,
        )

    def _dispatch(self) -> None:
        while self.waiting and self.idle:
            worker = self.idle.popleft()
            if not worker.is_alive:
                continue
            job = self.waiting.popleft()
            self.in_progress[worker] = (job, self.monitor(worker))
            worker.send(Work(job))


class Worker(Actor):
    """Takes jobs from the queue one at a time; crashes on a poisoned job."""

    metered = True  # handler latency histogram: enotime_actor_handler_duration_seconds

    async def on_start(self) -> None:
        self.node.lookup(QUEUE).send(Ready(self.ref))

    @handler
    async def work(self, msg: Work) -> None:
        if msg.job.poisoned:
            raise WorkerCrashed(f"job {msg.job.id} is poisoned")
        await asyncio.sleep(msg.job.seconds)  # stands for real work
        queue = self.node.lookup(QUEUE)
        queue.send(Done(msg.job, self.ref))
        queue.send(Ready(self.ref))
