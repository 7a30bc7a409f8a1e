"""The demo tree: a job queue, a pool of workers that crash and come back, a producer, a reporter.

Run it with ``enotime run supervisors.demo:tree`` (24 jobs, then the node stops),
or ``enotime run supervisors.demo:service`` to keep jobs flowing until stopped
(what the deployment stack runs).

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


def tree(jobs: int | None = JOBS, workers: int = WORKERS, interval: float = 0.05) -> ChildSpec:
    """The whole demo system as one supervision tree; ``jobs=None`` runs forever."""
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
            child(Producer, jobs, interval, restart=Restart.TRANSIENT),
            child(Reporter, jobs),
        ],
        strategy=Strategy.REST_FOR_ONE,
        name="demo",
    )


def service() -> ChildSpec:
    """The demo as a long-running service: a job every 0.2 s until the node is stopped."""
    return tree(jobs=None, interval=0.2)
