"""Handler latency for metered actors: plain counters the metrics layer reads at scrape time.

An actor class that sets ``metered = True`` gets its handlers wrapped to time
themselves into the node's ``_handler_timings``; every other class keeps its
handler table untouched and pays nothing.
"""

from __future__ import annotations

import bisect
import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from enotime._handler import HandlerEntry

if TYPE_CHECKING:
    from enotime._actor import Actor

__all__ = ["HANDLER_BUCKETS", "HandlerStatistics", "HandlerTiming", "metered_handlers"]


HANDLER_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds, in seconds, of the handler-latency buckets of metered actors."""


class HandlerTiming:
    """Running latency counts of one handler of one metered actor class (plain ints)."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(HANDLER_BUCKETS) + 1)  # the last one is +Inf

    def observe(self, seconds: float) -> None:
        """Count one handling that took ``seconds``."""
        self.count += 1
        self.sum += seconds
        self.buckets[bisect.bisect_left(HANDLER_BUCKETS, seconds)] += 1


@dataclass(frozen=True, slots=True)
class HandlerStatistics:
    """Latency of one handler of one metered actor class, for inspection and metrics."""

    actor_class: str
    handler: str
    count: int
    sum_seconds: float
    buckets: tuple[tuple[float, int], ...]
    """Cumulative ``(upper bound in seconds, count)`` pairs, ending with ``(inf, count)``."""

    @classmethod
    def of(cls, key: tuple[str, str], timing: HandlerTiming) -> HandlerStatistics:
        """A snapshot of ``timing``, kept under ``(actor class, handler name)``."""
        cumulative = list(itertools.accumulate(timing.buckets))
        bounds = (*HANDLER_BUCKETS, float("inf"))
        return cls(
            actor_class=key[0],
            handler=key[1],
            count=timing.count,
            sum_seconds=timing.sum,
            buckets=tuple(zip(bounds, cumulative, strict=True)),
        )


def metered_handlers(
    cls: type[Actor], declared: dict[type, HandlerEntry]
) -> dict[type, HandlerEntry]:
    """``declared`` with every handler wrapped to time itself into the node's statistics.

    Only classes that set ``metered = True`` get this table, so unmetered actors
    pay nothing. One wrapper per handler function, shared by the message types
    it handles.
    """
    wrapped: dict[int, HandlerEntry] = {}
    table = {}
    for message_type, entry in declared.items():
        if id(entry.function) not in wrapped:
            wrapped[id(entry.function)] = _timed_entry(cls.__qualname__, entry)
        table[message_type] = wrapped[id(entry.function)]
    return table


def _timed_entry(actor_class: str, entry: HandlerEntry) -> HandlerEntry:
    function = entry.function
    key = (actor_class, getattr(function, "__name__", "handler"))
    clock = time.perf_counter
    where = bisect.bisect_left
    bounds = HANDLER_BUCKETS
    first = bounds[0]

    # HandlerTiming.observe, inlined, with a fast path for the first bucket where most
    # handlings land: this runs for every message of a metered actor.
    def record(actor: Actor, seconds: float) -> None:
        timings = actor._enotime_proc.node._handler_timings
        timing = timings.get(key)
        if timing is None:
            timing = timings[key] = HandlerTiming()
        timing.count += 1
        timing.sum += seconds
        timing.buckets[0 if seconds <= first else where(bounds, seconds)] += 1

    if entry.is_async:

        async def timed_async(actor: Actor, message: object) -> Any:
            start = clock()
            try:
                return await function(actor, message)
            finally:
                record(actor, clock() - start)

        return HandlerEntry(timed_async, True)

    def timed(actor: Actor, message: object) -> Any:
        start = clock()
        try:
            result = function(actor, message)
        except BaseException:
            record(actor, clock() - start)
            raise
        seconds = clock() - start
        timings = actor._enotime_proc.node._handler_timings
        timing = timings.get(key)
        if timing is None:
            timing = timings[key] = HandlerTiming()
        timing.count += 1
        timing.sum += seconds
        timing.buckets[0 if seconds <= first else where(bounds, seconds)] += 1
        return result

    return HandlerEntry(timed, False)
