"""What instrumentation costs the kernel: round trips and pipelined casts, metrics on vs off.

Run ``python benchmarks/metrics.py [--quick] [--json]`` (needs the ``metrics``
extra). Each repetition measures, on fresh nodes and one after the other (the
order alternating between repetitions):

- **off**: an unmetered echo actor on a node without collector -- the kernel
  as it runs without the metrics extra;
- **on**: the same actor with ``metered = True`` (every handling timed into the
  latency histogram) on a node whose statistics are exposed in a registry,
  rendered (``generate_latest``) every ``SCRAPE_INTERVAL`` seconds of its
  running time -- 75 times Prometheus's default rate -- its time included.

Both nodes share one event loop and run in alternating batches (``off, on``
then ``on, off``), so that the load of a shared machine hits both alike; a
repetition's rates are each variant's messages over its summed batch time.

The peer is the kernel itself with instrumentation off; issue 6's target is
that instrumentation costs under 10 % of the round trips/s, i.e. on / off >=
0.9. For information: pipelined casts to a handler that does nothing (where
the per-message price of timing is most visible, reported in ns), and the time
of one scrape of a node holding ``idle`` live actors.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Final, TypeVar

from _common import Report, Row, median, paired_ratio, parse_args, stdout_to_stderr
from _echo import Cast, Echo, Ping, Total

from enotime import Actor, ActorRef, Node

try:
    from prometheus_client import CollectorRegistry, generate_latest

    from enotime.metrics import instrument, uninstrument
except ImportError:  # pragma: no cover - reported, not crashed on
    sys.exit('benchmarks/metrics.py needs the metrics extra: pip install "enotime[metrics]"')

T = TypeVar("T")

WARMUP: Final = 500
SCRAPE_INTERVAL: Final = 0.2
"""Seconds of instrumented running between two scrapes (Prometheus's default: 15 s)."""
ROUNDTRIP_BATCH: Final = 1_000
PIPELINED_BATCH: Final = 5_000


@dataclass(frozen=True, slots=True)
class Plan:
    repetitions: int
    roundtrips: int
    pipelined: int
    idle: int
    time_cap: float


QUICK: Final = Plan(5, 30_000, 100_000, 10_000, 2.0)
FULL: Final = Plan(9, 150_000, 400_000, 100_000, 5.0)

TARGETS: Final = {"roundtrips_on_vs_off": ">= 0.9"}
"""Issue 6: instrumentation costs < 10 % of the kernel's round trips/s."""


class MeteredEcho(Echo):
    """The same actor, with its handler latency histogram."""

    metered = True


class Idle(Actor):
    pass


class Interleaved:
    """Both variants on one event loop, run in alternating batches so that load drift
    on a shared machine hits both alike; the scrapes run inside the "on" batches,
    whose time includes them."""

    def __init__(self, batch: int, cap: float) -> None:
        self.batch = batch
        self.cap = cap
        self.elapsed = {"on": 0.0, "off": 0.0}
        self.done = {"on": 0, "off": 0}
        self.scrapes = 0

    async def run(
        self, step: Callable[[ActorRef[Any], int], Coroutine[Any, Any, int]], count: int
    ) -> dict[str, float]:
        async with Node("off") as plain_node, Node("on") as metered_node:
            registry = CollectorRegistry()
            instrument(metered_node, registry)
            try:
                refs = {
                    "off": await plain_node.spawn(Echo),
                    "on": await metered_node.spawn(MeteredEcho),
                }
                for ref in refs.values():  # warm-up, untimed
                    await step(ref, WARMUP)
                gc.collect()
                next_scrape = 0.0
                clock = time.perf_counter
                deadline = clock() + 2 * self.cap
                batches = 0
                while self.done["on"] < count and clock() < deadline:
                    order = ("off", "on") if batches % 2 == 0 else ("on", "off")
                    for variant in order:
                        start = clock()
                        handled = await step(refs[variant], self.batch)
                        if variant == "on":
                            while self.elapsed["on"] + clock() - start >= next_scrape:
                                generate_latest(registry)
                                self.scrapes += 1
                                next_scrape += SCRAPE_INTERVAL
                        self.elapsed[variant] += clock() - start
                        self.done[variant] += handled
                    batches += 1
            finally:
                uninstrument(metered_node, registry)
        if self.scrapes < 1:
            raise AssertionError("no scrape ran during the measurement")
        return {variant: self.done[variant] / self.elapsed[variant] for variant in self.done}


async def _roundtrip_batch(ref: ActorRef[Any], count: int) -> int:
    for i in range(count):
        await ref.call(Ping(i))
    return count


async def _pipelined_batch(ref: ActorRef[Any], count: int) -> int:
    before = await ref.call(Total())
    for i in range(count):
        ref.send(Cast(i))
    seen = await ref.call(Total(), timeout=30.0)
    if seen != before + count:
        raise AssertionError(f"{seen - before} casts handled, not {count}")
    return count + 2


async def roundtrips(count: int, cap: float) -> dict[str, float]:
    return await Interleaved(ROUNDTRIP_BATCH, cap).run(_roundtrip_batch, count)


async def pipelined(count: int, cap: float) -> dict[str, float]:
    return await Interleaved(PIPELINED_BATCH, cap).run(_pipelined_batch, count)


async def scrape_cost(idle: int) -> float:
    """Milliseconds one scrape takes on a node with ``idle`` live actors."""
    async with Node("bench") as node:
        for _ in range(idle):
            await node.spawn(Idle)
        registry = CollectorRegistry()
        instrument(node, registry)
        try:
            generate_latest(registry)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                generate_latest(registry)
                times.append(time.perf_counter() - start)
            return min(times) * 1e3
        finally:
            uninstrument(node, registry)


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with asyncio.Runner() as runner:
        return runner.run(main())


def measure_all(plan: Plan) -> dict[str, list[float | None]]:
    series: dict[str, list[float | None]] = {}
    for _ in range(plan.repetitions):
        for what, measure, count in (
            ("roundtrips", roundtrips, plan.roundtrips),
            ("pipelined", pipelined, plan.pipelined),
        ):
            rates = run(partial(measure, count, plan.time_cap))
            for variant, rate in rates.items():
                series.setdefault(f"{what}_{variant}", []).append(rate)
    series["scrape_ms"] = [run(partial(scrape_cost, plan.idle))]
    return series


def build_report(series: dict[str, list[float | None]], plan: Plan, quick: bool) -> Report:
    report = Report("metrics", targets=dict(TARGETS))
    figures, ratios = report.figures, report.ratios
    for what in ("roundtrips", "pipelined"):
        unit = "per_s" if what == "roundtrips" else "msgs_per_s"
        for label in ("on", "off"):
            figures[f"{what}_{label}_{unit}"] = median(series[f"{what}_{label}"])
        ratios[f"{what}_on_vs_off"] = paired_ratio(series[f"{what}_on"], series[f"{what}_off"])
    on, off = figures["pipelined_on_msgs_per_s"], figures["pipelined_off_msgs_per_s"]
    if on and off:
        figures["metered_overhead_ns_per_msg"] = (1 / on - 1 / off) * 1e9
    figures[f"scrape_{plan.idle}_actors_ms"] = median(series["scrape_ms"])
    report.rows = [
        Row(
            "round trips/s, metrics on vs off",
            "roundtrips_on_per_s",
            "roundtrips_off_per_s",
            "roundtrips_on_vs_off",
            "roundtrips_on_vs_off",
        ),
        Row(
            "pipelined msgs/s, metrics on vs off",
            "pipelined_on_msgs_per_s",
            "pipelined_off_msgs_per_s",
            "pipelined_on_vs_off",
        ),
        Row("  added per message, ns", "metered_overhead_ns_per_msg"),
        Row(f"one scrape, {plan.idle:,} live actors, ms", f"scrape_{plan.idle}_actors_ms"),
    ]
    report.notes.append(
        f"{'quick' if quick else 'full'} run, {plan.repetitions} repetitions of alternating "
        "on/off batches on one loop; figures are medians, ratios medians of per-repetition "
        "on/off ratios"
    )
    report.notes.append(
        f"on = metered actor (handler latency histogram) + node collector + a scrape every "
        f"{SCRAPE_INTERVAL:g} s of its running time, included; off = the plain kernel"
    )
    report.notes.append(
        "pipelined casts to a handler that does nothing show the per-message price of "
        "timing a handler (two clock reads and a bucket increment) at its most visible; "
        "issue 6's target applies to round trips"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    plan = QUICK if args.quick else FULL
    if args.repetitions:
        plan = replace(plan, repetitions=args.repetitions)
    with stdout_to_stderr(args.json):
        report = build_report(measure_all(plan), plan, args.quick)
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
