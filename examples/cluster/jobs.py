"""The messages that cross nodes: registered wire messages (see docs/wire.md)."""

from __future__ import annotations

from dataclasses import dataclass

from enotime.messages import Request
from enotime.transport import message


@message("examples.cluster.Done", version=1)
@dataclass(frozen=True)
class Done:
    """The answer to a job: who computed it, in which OS process."""

    job: int
    node: str
    pid: int
    result: int


@message("examples.cluster.Job", version=1)
@dataclass(frozen=True)
class Job(Request[Done]):
    """Square ``n``; the job takes ``seconds`` of (simulated) work."""

    job: int
    n: int
    seconds: float
