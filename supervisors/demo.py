"""The demo tree: a job queue, a pool of workers that crash and come back, a producer, a reporter.

Run it with ``enotime run supervisors.demo:tree``.

``rest_for_one`` at the top: if the queue itself died, the workers (which
registered with it) and everything after would be restarted with it; a
crashing worker is restarted alone by the pool's ``one_for_one``.
"""

from __future__ import annotations

from actors.demo import Producer, Reporter
from actors.jobs import QUEUE, JobQueue, Worker
from enotime import ChildSpec, Restart, Strategy, child, supervisor

JOBS = 24
WORKERS = 3


def tree(jobs: int = JOBS, workers: int = WORKERS) -> ChildSpec:
    """The whole demo system as one supervision tree."""
    pool = supervisor(
        "workers",
        [child(Worker, id=f"worker-{i}", name=f"worker-{i}") for i in range(1, workers + 1)],
        strategy=Strategy.ONE_FOR_ONE,
        max_restarts=10,
        max_seconds=5,
        name="workers",
    )
    return supervisor(
        "demo",
        [
            child(JobQueue, name=QUEUE),
            pool,
            child(Producer, jobs, restart=Restart.TRANSIENT),
            child(Reporter, jobs),
        ],
        strategy=Strategy.REST_FOR_ONE,
        name="demo",
    )
