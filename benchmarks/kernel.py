"""The actor kernel beside raw asyncio and thespian: round trips, pipelining, spawning, memory.

Run ``python benchmarks/kernel.py [--quick] [--json]``. Each repetition runs
every variant of a measure one after the other, so that ratios pair figures
taken under the same machine load (issue 2, ``../shared/BENCHMARKS.md``):

- round trips/s: ``await ref.call(Ping(i))`` with the default timeout, beside
  two raw asyncio tasks talking through an ``asyncio.Queue`` each way, thespian
  ``simpleSystemBase`` ``ask`` and thespian ``multiprocTCPBase`` ``ask``
  (small counts, a hard timeout on every ask); with uvloop too, for information;
- pipelined messages/s: N casts then one call that returns how many arrived,
  beside the same over raw asyncio queues and thespian ``tell`` then ``ask``;
- spawn rate: ``await node.spawn(Idle)`` beside ``asyncio.create_task`` of a
  coroutine that reads its own ``asyncio.Queue``;
- idle memory: N idle actors in a fresh process (RSS delta, and
  ``tracemalloc`` in a second fresh process) beside N raw Queue+Task actors.

thespian's multiproc admin daemonizes (setsid, double fork) and outlives its
parent unless shut down, so it runs in a worker process of ours whose
environment carries a marker of this run; afterwards every process with the
marker still alive is killed by PID (``_common.reap_marked``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import os
import select
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from functools import partial
from types import ModuleType
from typing import Any, Final, TypeVar

from _common import (
    MARKER_ENV,
    Report,
    Row,
    median,
    paired_ratio,
    parse_args,
    percentile,
    reap_marked,
    run_marker,
    stdout_to_stderr,
)
from _echo import Cast, Echo, Ping, Total

from enotime import Actor, Node, handler


def _optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


uvloop = _optional("uvloop")
"""From the `speed` extra; without it, the uvloop figures are skipped."""
thespian = _optional("thespian.actors")
"""From the `bench` extra; without it, the thespian figures are missing."""

T = TypeVar("T")

WARMUP: Final = 500
"""Untimed operations before each timed loop (caches, specialised bytecode)."""
ASK_TIMEOUT: Final = 5.0
"""Seconds one thespian ``ask`` may take before the figure is declared missing."""
WORKER_TIMEOUT: Final = 60.0
"""Seconds a worker process may take for one step before it is killed."""
IDLE_TARGET_COUNT: Final = 100_000
MB: Final = 1_000_000
KB: Final = 1_000


@dataclass(frozen=True, slots=True)
class Plan:
    """How much each measure does; every timed loop also stops after ``time_cap`` seconds."""

    repetitions: int
    roundtrips: int
    tcp_roundtrips: int
    pipelined: int
    tcp_pipelined: int
    spawns: int
    idle_actors: int
    memory_repetitions: int
    time_cap: float


QUICK: Final = Plan(3, 5_000, 200, 20_000, 100, 5_000, 20_000, 2, 2.0)
FULL: Final = Plan(5, 30_000, 500, 100_000, 300, 20_000, 100_000, 3, 5.0)


# -- the workload: the same messages for every contender -----------------------------------


class Idle(Actor):
    """An actor that could answer a ping but is never sent one."""

    @handler
    def ping(self, msg: Ping) -> int:
        return msg.n


async def raw_echo(inbox: asyncio.Queue[object], outbox: asyncio.Queue[int]) -> None:
    """Raw asyncio's side: the same behaviour as :class:`Echo`, as a task and two queues."""
    casts = 0
    while True:
        msg = await inbox.get()
        if type(msg) is Cast:
            casts += 1
        elif type(msg) is Ping:
            outbox.put_nowait(msg.n)
        else:
            outbox.put_nowait(casts)


async def raw_idle(inbox: asyncio.Queue[object]) -> None:
    """A raw asyncio actor: a task reading its queue."""
    while True:
        msg = await inbox.get()
        if type(msg) is Ping:
            raise AssertionError("idle actors are never sent anything")


if thespian is not None:

    class ThespianEcho(thespian.Actor):  # type: ignore[name-defined,misc]
        """thespian's side: the same behaviour as :class:`Echo`."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.casts = 0

        def receiveMessage(self, msg: object, sender: Any) -> None:
            if type(msg) is Cast:
                self.casts += 1
            elif type(msg) is Ping:
                self.send(sender, msg.n)
            elif type(msg) is Total:
                self.send(sender, self.casts)


# -- one timed sample ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One repetition of one contender: a rate, and latency percentiles when timed one by one."""

    per_s: float
    p50_us: float | None = None
    p99_us: float | None = None

    @classmethod
    def from_latencies(cls, latencies_ns: list[int], elapsed_ns: int) -> Sample:
        ordered = sorted(latencies_ns)
        return cls(
            per_s=len(ordered) * 1e9 / elapsed_ns,
            p50_us=percentile(ordered, 0.50) / 1e3,
            p99_us=percentile(ordered, 0.99) / 1e3,
        )

    def to_json(self) -> dict[str, float | None]:
        return {"per_s": self.per_s, "p50_us": self.p50_us, "p99_us": self.p99_us}


class Missing(Exception):
    """A contender could not be measured; the message says why."""


def _deadline_ns(cap: float) -> int:
    return time.perf_counter_ns() + int(cap * 1e9)


# -- ENoTime -------------------------------------------------------------------------------


async def enotime_roundtrips(count: int, cap: float) -> Sample:
    async with Node("bench") as node:
        echo = await node.spawn(Echo)
        for i in range(WARMUP):
            await echo.call(Ping(i))
        gc.collect()
        latencies: list[int] = []
        clock = time.perf_counter_ns
        deadline = _deadline_ns(cap)
        start = previous = clock()
        for i in range(count):
            await echo.call(Ping(i))
            now = clock()
            latencies.append(now - previous)
            previous = now
            if now > deadline:
                break
        return Sample.from_latencies(latencies, previous - start)


async def enotime_pipelined(count: int, cap: float) -> Sample:
    async with Node("bench") as node:
        echo = await node.spawn(Echo)
        for i in range(WARMUP):
            echo.send(Cast(i))
        await echo.call(Total())
        gc.collect()
        start = time.perf_counter_ns()
        for i in range(count):
            echo.send(Cast(i))
        seen = await echo.call(Total(), timeout=cap + 5.0)
        elapsed = time.perf_counter_ns() - start
        if seen != count + WARMUP:
            raise AssertionError(f"ENoTime handled {seen} casts, not {count + WARMUP}")
        return Sample((count + 1) * 1e9 / elapsed)


async def enotime_spawn(count: int, cap: float) -> Sample:
    async with Node("bench") as node:
        for _ in range(WARMUP):
            await node.spawn(Idle)
        gc.collect()
        refs = []
        clock = time.perf_counter_ns
        deadline = _deadline_ns(cap)
        start = clock()
        for _ in range(count):
            refs.append(await node.spawn(Idle))
            if clock() > deadline:
                break
        await asyncio.sleep(0)  # every new actor has run up to its first wait
        elapsed = clock() - start
        return Sample(len(refs) * 1e9 / elapsed)


# -- raw asyncio ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _raw_echo_task() -> AsyncIterator[tuple[asyncio.Queue[object], asyncio.Queue[int]]]:
    inbox: asyncio.Queue[object] = asyncio.Queue()
    outbox: asyncio.Queue[int] = asyncio.Queue()
    server = asyncio.create_task(raw_echo(inbox, outbox))
    try:
        yield inbox, outbox
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


async def asyncio_roundtrips(count: int, cap: float) -> Sample:
    async with _raw_echo_task() as (inbox, outbox):
        for i in range(WARMUP):
            inbox.put_nowait(Ping(i))
            await outbox.get()
        gc.collect()
        latencies: list[int] = []
        clock = time.perf_counter_ns
        deadline = _deadline_ns(cap)
        start = previous = clock()
        for i in range(count):
            inbox.put_nowait(Ping(i))
            await outbox.get()
            now = clock()
            latencies.append(now - previous)
            previous = now
            if now > deadline:
                break
        return Sample.from_latencies(latencies, previous - start)


async def asyncio_pipelined(count: int, cap: float) -> Sample:
    async with _raw_echo_task() as (inbox, outbox):
        for i in range(WARMUP):
            inbox.put_nowait(Cast(i))
        inbox.put_nowait(Total())
        await outbox.get()
        gc.collect()
        start = time.perf_counter_ns()
        for i in range(count):
            inbox.put_nowait(Cast(i))
        inbox.put_nowait(Total())
        async with asyncio.timeout(cap + 5.0):
            seen = await outbox.get()
        elapsed = time.perf_counter_ns() - start
        if seen != count + WARMUP:
            raise AssertionError(f"raw asyncio handled {seen} casts, not {count + WARMUP}")
        return Sample((count + 1) * 1e9 / elapsed)


async def asyncio_spawn(count: int, cap: float) -> Sample:
    tasks: list[asyncio.Task[None]] = []
    try:
        for _ in range(WARMUP):
            tasks.append(asyncio.create_task(raw_idle(asyncio.Queue())))
        await asyncio.sleep(0)
        gc.collect()
        clock = time.perf_counter_ns
        deadline = _deadline_ns(cap)
        start = clock()
        spawned = 0
        for _ in range(count):
            inbox: asyncio.Queue[object] = asyncio.Queue()
            tasks.append(asyncio.create_task(raw_idle(inbox)))
            spawned += 1
            if clock() > deadline:
                break
        await asyncio.sleep(0)
        elapsed = clock() - start
        return Sample(spawned * 1e9 / elapsed)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- thespian ------------------------------------------------------------------------------


def thespian_roundtrips(system: Any, echo: Any, count: int, cap: float) -> Sample:
    for i in range(min(WARMUP, count)):
        _ask(system, echo, Ping(i), i)
    latencies: list[int] = []
    clock = time.perf_counter_ns
    deadline = _deadline_ns(cap)
    start = previous = clock()
    for i in range(count):
        _ask(system, echo, Ping(i), i)
        now = clock()
        latencies.append(now - previous)
        previous = now
        if now > deadline:
            break
    return Sample.from_latencies(latencies, previous - start)


def thespian_pipelined(system: Any, echo: Any, count: int, cap: float) -> Sample:
    seen_before = _ask(system, echo, Total(), None)
    start = time.perf_counter_ns()
    for i in range(count):
        system.tell(echo, Cast(i))
    _ask(system, echo, Total(), seen_before + count, timeout=cap + ASK_TIMEOUT)
    elapsed = time.perf_counter_ns() - start
    return Sample((count + 1) * 1e9 / elapsed)


def _ask(
    system: Any, actor: Any, msg: object, expected: int | None, timeout: float = ASK_TIMEOUT
) -> Any:
    answer = system.ask(actor, msg, timeout)
    if answer is None:
        raise Missing(f"an ask got no answer within {timeout:g} s")
    if expected is not None and answer != expected:
        raise Missing(f"an ask was answered {answer!r}, not {expected!r}")
    return answer


@contextlib.contextmanager
def thespian_simple() -> Iterator[tuple[Any, Any]]:
    """A fresh in-process ``simpleSystemBase`` with one echo actor, shut down on exit."""
    if thespian is None:
        raise Missing('thespian is not installed (pip install "enotime[bench]")')
    system = thespian.ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        yield system, system.createActor(ThespianEcho)
    finally:
        system.shutdown()


class TcpPeer:
    """thespian ``multiprocTCPBase`` driven in a worker process, one command at a time.

    The worker (this script with ``--thespian-tcp-worker``) starts the actor
    system on a free admin port and answers ``roundtrips``/``pipelined``
    commands on its stdin with one JSON line each. Every wait for it is
    bounded; on close, the worker shuts the system down, and any process
    still carrying this run's marker is killed by PID.
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.proc: subprocess.Popen[str] | None = None
        self.failure: str | None = None
        self.killed: list[int] = []

    def start(self) -> None:
        if thespian is None:
            self.failure = 'thespian is not installed (pip install "enotime[bench]")'
            return
        env = {**os.environ, MARKER_ENV: self.marker, "THESPIAN_BASE_IPADDR": "127.0.0.1"}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--thespian-tcp-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            self._read(WORKER_TIMEOUT)
        except Missing as failure:
            self.failure = f"multiprocTCPBase did not start: {failure}"

    def measure(self, op: str, count: int, cap: float) -> Sample:
        if self.failure is not None:
            raise Missing(self.failure)
        assert self.proc is not None
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"op": op, "count": count, "cap": cap}) + "\n")
            self.proc.stdin.flush()
            answer = self._read(cap + ASK_TIMEOUT + 10.0)
        except (Missing, OSError) as failure:
            self.failure = f"multiprocTCPBase failed: {failure}"
            raise Missing(self.failure) from None
        if "error" in answer:
            # A system that failed once is not trusted again: the next figures are missing too.
            self.failure = f"multiprocTCPBase: {answer['error']}"
            raise Missing(self.failure)
        return Sample(answer["per_s"], answer["p50_us"], answer["p99_us"])

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not ready:
            raise Missing(f"no answer from the worker within {timeout:g} s")
        if not line:
            raise Missing(f"the worker exited (status {self.proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        proc = self.proc
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                proc.stdin.close()
            try:
                proc.wait(WORKER_TIMEOUT / 4)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.killed = reap_marked(self.marker)


def thespian_tcp_worker() -> int:
    """Body of the worker process: run multiprocTCPBase until told to quit."""
    assert thespian is not None
    out = sys.stdout
    sys.stdout = sys.stderr  # only our JSON lines go to the parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    system = thespian.ActorSystem("multiprocTCPBase", {"Admin Port": port}, transientUnique=True)
    try:
        echo = system.createActor(ThespianEcho)
        print(json.dumps({"ready": port}), file=out, flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            measure = {"roundtrips": thespian_roundtrips, "pipelined": thespian_pipelined}.get(
                command["op"]
            )
            if measure is None:
                break
            try:
                answer: dict[str, Any] = measure(
                    system, echo, command["count"], command["cap"]
                ).to_json()
            except Missing as failure:
                answer = {"error": str(failure)}
            print(json.dumps(answer), file=out, flush=True)
    finally:
        system.shutdown()
    return 0


# -- idle memory, in a fresh process per measurement ---------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _hold_idle(kind: str, count: int, traced: bool) -> float:
    """Bytes taken by ``count`` idle actors of ``kind``, in this (fresh) process."""
    keep: list[object] = []
    node = Node("memory")
    # One of each first, so that lazily built tables and free lists are not counted.
    keep.append(await node.spawn(Idle))
    keep.append(asyncio.create_task(raw_idle(asyncio.Queue())))
    await asyncio.sleep(0)
    gc.collect()
    if traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if traced else _rss_bytes()
    if kind == "enotime":
        for _ in range(count):
            keep.append(await node.spawn(Idle))
    else:
        for _ in range(count):
            inbox: asyncio.Queue[object] = asyncio.Queue()
            keep.append(asyncio.create_task(raw_idle(inbox)))
    await asyncio.sleep(0)  # every actor has run up to its first wait
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if traced else _rss_bytes()
    tracemalloc.stop()
    # The actors are not stopped one by one: the process ends here, and
    # asyncio.run cancels whatever is left.
    return float(after - before)


def memory_worker(kind: str, count: int, traced: bool) -> int:
    """Body of a memory worker process: print the bytes per idle actor as one JSON line."""
    used = asyncio.run(_hold_idle(kind, count, traced))
    print(json.dumps({"bytes_per_actor": used / count}), flush=True)
    return 0


def measure_idle(kind: str, count: int, traced: bool, marker: str) -> Sample:
    """Bytes per idle actor, measured in a fresh interpreter (``per_s`` holds bytes here)."""
    command = [sys.executable, __file__, "--memory-worker", kind, "--count", str(count)]
    if traced:
        command.append("--traced")
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT * 2,
            env={**os.environ, MARKER_ENV: marker},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Missing(f"the memory worker took over {WORKER_TIMEOUT * 2:g} s") from None
    finally:
        reap_marked(marker, grace=1.0)
    if done.returncode != 0:
        raise Missing(f"the memory worker failed: {done.stderr.strip()[-300:]}")
    return Sample(float(json.loads(done.stdout.strip().splitlines()[-1])["bytes_per_actor"]))


# -- the run -------------------------------------------------------------------------------


def run_loop(main: Callable[[], Coroutine[Any, Any, T]], use_uvloop: bool = False) -> T:
    """Run ``main()`` on a fresh event loop: asyncio's default one, or uvloop's."""
    factory = uvloop.new_event_loop if use_uvloop and uvloop is not None else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def with_simple(
    measure: Callable[[Any, Any, int, float], Sample], count: int, cap: float
) -> Sample:
    """``measure`` on a fresh thespian ``simpleSystemBase``."""
    with thespian_simple() as (system, echo):
        return measure(system, echo, count, cap)


class Series:
    """Samples of every contender, repetition by repetition, and why any is missing."""

    def __init__(self) -> None:
        self.samples: dict[str, list[Sample | None]] = {}
        self.missing: dict[str, str] = {}

    def take(self, name: str, measure: Callable[[], Sample]) -> None:
        try:
            sample: Sample | None = measure()
        except Missing as failure:
            self.missing.setdefault(name, str(failure))
            sample = None
        self.samples.setdefault(name, []).append(sample)

    def values(self, name: str, attribute: str = "per_s") -> list[float | None]:
        return [
            None if sample is None else getattr(sample, attribute)
            for sample in self.samples.get(name, [])
        ]


TARGETS: Final = {
    "roundtrips_vs_asyncio": ">= 0.8",
    "roundtrips_vs_thespian_simple": ">= 1.0",
    "roundtrips_vs_thespian_tcp": ">= 50",
    "enotime_spawn_per_s": ">= 20000",
    "enotime_idle_100k_mb": "<= 400",
}
"""Issue 2's targets, keyed by the ratio or figure each applies to."""

ROUNDTRIPPERS: Final = ("enotime", "asyncio", "thespian_simple", "thespian_tcp")
PIPELINERS: Final = ROUNDTRIPPERS


def measure_all(plan: Plan, marker: str) -> tuple[Series, list[int]]:
    """Every measure, contenders side by side within each repetition."""
    series = Series()
    cap, rt, pl = plan.time_cap, plan.roundtrips, plan.pipelined
    tcp = TcpPeer(marker)
    steps: list[tuple[str, Callable[[], Sample]]] = [
        ("enotime_roundtrips", partial(run_loop, partial(enotime_roundtrips, rt, cap))),
        ("asyncio_roundtrips", partial(run_loop, partial(asyncio_roundtrips, rt, cap))),
        ("thespian_simple_roundtrips", partial(with_simple, thespian_roundtrips, rt, cap)),
        (
            "thespian_tcp_roundtrips",
            partial(tcp.measure, "roundtrips", plan.tcp_roundtrips, cap * 5),
        ),
    ]
    if uvloop is not None:
        steps += [
            (
                "enotime_uvloop_roundtrips",
                partial(run_loop, partial(enotime_roundtrips, rt, cap), use_uvloop=True),
            ),
            (
                "asyncio_uvloop_roundtrips",
                partial(run_loop, partial(asyncio_roundtrips, rt, cap), use_uvloop=True),
            ),
        ]
    steps += [
        ("enotime_pipelined", partial(run_loop, partial(enotime_pipelined, pl, cap))),
        ("asyncio_pipelined", partial(run_loop, partial(asyncio_pipelined, pl, cap))),
        ("thespian_simple_pipelined", partial(with_simple, thespian_pipelined, pl, cap)),
        (
            "thespian_tcp_pipelined",
            partial(tcp.measure, "pipelined", plan.tcp_pipelined, cap * 5),
        ),
        ("enotime_spawn", partial(run_loop, partial(enotime_spawn, plan.spawns, cap))),
        ("asyncio_spawn", partial(run_loop, partial(asyncio_spawn, plan.spawns, cap))),
    ]
    try:
        tcp.start()
        for _ in range(plan.repetitions):
            for name, measure in steps:
                series.take(name, measure)
    finally:
        tcp.close()
    for _ in range(plan.memory_repetitions):
        for kind in ("enotime", "asyncio"):
            series.take(
                f"{kind}_idle", partial(measure_idle, kind, plan.idle_actors, False, marker)
            )
    for kind in ("enotime", "asyncio"):
        series.take(
            f"{kind}_idle_traced", partial(measure_idle, kind, plan.idle_actors, True, marker)
        )
    return series, tcp.killed


def build_report(series: Series, plan: Plan, quick: bool, killed: list[int]) -> Report:
    """Medians, paired ratios, targets and the table's rows, from the samples."""
    report = Report("kernel", targets=dict(TARGETS))
    figures, ratios = report.figures, report.ratios

    def figure(name: str, values: list[float | None], missing_from: str) -> None:
        figures[name] = median(values)
        if figures[name] is None and missing_from in series.missing:
            report.missing[name] = series.missing[missing_from]

    for who in ROUNDTRIPPERS:
        figure(f"{who}_roundtrips_per_s", series.values(f"{who}_roundtrips"), f"{who}_roundtrips")
        for p in ("p50", "p99"):
            values = series.values(f"{who}_roundtrips", f"{p}_us")
            figure(f"{who}_roundtrip_{p}_us", values, f"{who}_roundtrips")
    for who in ROUNDTRIPPERS[1:]:
        ratios[f"roundtrips_vs_{who}"] = paired_ratio(
            series.values("enotime_roundtrips"), series.values(f"{who}_roundtrips")
        )
    if uvloop is not None:
        for who in ("enotime", "asyncio"):
            name = f"{who}_uvloop_roundtrips"
            figure(f"{name}_per_s", series.values(name), name)
        ratios["roundtrips_uvloop_vs_asyncio_uvloop"] = paired_ratio(
            series.values("enotime_uvloop_roundtrips"), series.values("asyncio_uvloop_roundtrips")
        )
    for who in PIPELINERS:
        name = f"{who}_pipelined"
        figure(f"{name}_msgs_per_s", series.values(name), name)
    for who in PIPELINERS[1:]:
        ratios[f"pipelined_vs_{who}"] = paired_ratio(
            series.values("enotime_pipelined"), series.values(f"{who}_pipelined")
        )
    for who in ("enotime", "asyncio"):
        figure(f"{who}_spawn_per_s", series.values(f"{who}_spawn"), f"{who}_spawn")
    ratios["spawn_vs_asyncio"] = paired_ratio(
        series.values("enotime_spawn"), series.values("asyncio_spawn")
    )
    for who in ("enotime", "asyncio"):
        per_actor = series.values(f"{who}_idle")
        figure(f"{who}_idle_kb_per_actor", _scaled(per_actor, 1 / KB), f"{who}_idle")
        figure(f"{who}_idle_100k_mb", _scaled(per_actor, IDLE_TARGET_COUNT / MB), f"{who}_idle")
        traced = series.values(f"{who}_idle_traced")
        figure(f"{who}_idle_traced_kb_per_actor", _scaled(traced, 1 / KB), f"{who}_idle_traced")
    ratios["idle_memory_vs_asyncio"] = paired_ratio(
        series.values("enotime_idle"), series.values("asyncio_idle")
    )
    figures["idle_actors_measured"] = float(plan.idle_actors)

    report.rows = [
        Row(
            "round trips/s vs raw asyncio",
            "enotime_roundtrips_per_s",
            "asyncio_roundtrips_per_s",
            "roundtrips_vs_asyncio",
            "roundtrips_vs_asyncio",
        ),
        Row("  p50 round trip, us", "enotime_roundtrip_p50_us", "asyncio_roundtrip_p50_us"),
        Row("  p99 round trip, us", "enotime_roundtrip_p99_us", "asyncio_roundtrip_p99_us"),
        Row(
            "round trips/s vs thespian simple",
            "enotime_roundtrips_per_s",
            "thespian_simple_roundtrips_per_s",
            "roundtrips_vs_thespian_simple",
            "roundtrips_vs_thespian_simple",
        ),
        Row(
            "round trips/s vs thespian TCP",
            "enotime_roundtrips_per_s",
            "thespian_tcp_roundtrips_per_s",
            "roundtrips_vs_thespian_tcp",
            "roundtrips_vs_thespian_tcp",
        ),
    ]
    if uvloop is not None:
        report.rows.append(
            Row(
                "round trips/s, uvloop vs raw",
                "enotime_uvloop_roundtrips_per_s",
                "asyncio_uvloop_roundtrips_per_s",
                "roundtrips_uvloop_vs_asyncio_uvloop",
            )
        )
    report.rows += [
        Row(
            "pipelined msgs/s vs raw asyncio",
            "enotime_pipelined_msgs_per_s",
            "asyncio_pipelined_msgs_per_s",
            "pipelined_vs_asyncio",
        ),
        Row(
            "pipelined msgs/s vs thespian simple",
            "enotime_pipelined_msgs_per_s",
            "thespian_simple_pipelined_msgs_per_s",
            "pipelined_vs_thespian_simple",
        ),
        Row(
            "pipelined msgs/s vs thespian TCP",
            "enotime_pipelined_msgs_per_s",
            "thespian_tcp_pipelined_msgs_per_s",
            "pipelined_vs_thespian_tcp",
        ),
        Row(
            "spawns/s vs asyncio.create_task",
            "enotime_spawn_per_s",
            "asyncio_spawn_per_s",
            "spawn_vs_asyncio",
            "enotime_spawn_per_s",
        ),
        Row(
            "idle actor, KB (RSS)",
            "enotime_idle_kb_per_actor",
            "asyncio_idle_kb_per_actor",
            "idle_memory_vs_asyncio",
        ),
        Row(
            "idle actor, KB (tracemalloc)",
            "enotime_idle_traced_kb_per_actor",
            "asyncio_idle_traced_kb_per_actor",
        ),
        Row(
            "100k idle actors, MB (RSS)",
            "enotime_idle_100k_mb",
            "asyncio_idle_100k_mb",
            None,
            "enotime_idle_100k_mb",
        ),
    ]

    report.notes.append(
        f"{'quick' if quick else 'full'} run, repetitions: {plan.repetitions} "
        f"({plan.memory_repetitions} for memory); figures are medians, ratios are "
        "medians of per-repetition ratios (ENoTime / peer)"
    )
    if plan.idle_actors != IDLE_TARGET_COUNT:
        report.notes.append(
            f"idle memory measured with {plan.idle_actors:,} actors and extrapolated "
            f"linearly to {IDLE_TARGET_COUNT:,} (run without --quick to measure 100k)"
        )
    report.notes.append(
        "MB = 10^6 bytes, KB = 10^3 bytes; RSS delta in a fresh process per measurement"
    )
    report.notes.append(
        f"thespian multiprocTCPBase: {plan.tcp_roundtrips} round trips, "
        f"{plan.tcp_pipelined} pipelined messages per repetition; ask timeout {ASK_TIMEOUT:g} s"
    )
    if uvloop is None:
        report.notes.append("uvloop is not installed: no uvloop figures")
    if killed:
        report.notes.append(f"thespian processes had to be killed by PID: {killed}")
    return report


def _scaled(values: list[float | None], factor: float) -> list[float | None]:
    return [None if v is None else v * factor for v in values]


def _extend(parser: argparse.ArgumentParser) -> None:
    # Internal: the same script runs as a worker process for isolation.
    parser.add_argument("--thespian-tcp-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", choices=("enotime", "asyncio"), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, _extend)
    if args.thespian_tcp_worker:
        return thespian_tcp_worker()
    if args.memory_worker:
        return memory_worker(args.memory_worker, args.count, args.traced)
    plan = QUICK if args.quick else FULL
    if args.repetitions:
        plan = replace(plan, repetitions=args.repetitions)
    with stdout_to_stderr(args.json):
        series, killed = measure_all(plan, run_marker())
        report = build_report(series, plan, args.quick, killed)
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
