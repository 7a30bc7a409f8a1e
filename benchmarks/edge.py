"""The HTTP edge: authenticated calls beside a bare Quart app, and under a storm of logins.

Run ``python benchmarks/edge.py [--quick] [--json]`` (issue 5, ``../shared/BENCHMARKS.md``).
Two servers, each in a process of its own started from ``_edge_server.py``
(one OS process, one Hypercorn server, the default asyncio loop, 127.0.0.1):

- **ENoTime**: ``POST /echo`` through the front (request id, bearer JWT
  verified, rate limiter counting per address and per subject, body
  validated by a pydantic model) -> a ``Worker`` actor that checks the
  caller's roles grant ``echo:call`` -> the reply converted by the output
  model. The node also runs the login, store (SQLite, sealed through the
  crypto actor), crypto and mailer actors, and the front serves the login
  endpoints: the client registers and logs in over HTTP for its token.
- **the peer**: a bare Quart app whose ``POST /echo`` answers the JSON body
  it was sent, served by Hypercorn the same way.

Both get the same request bytes (the same small JSON body and the same
``Authorization`` header) from aiohttp's client in this process; each
repetition measures one server, then the other (the order alternates), one
request at a time and with ``IN_FLIGHT`` in flight: requests/s, p50, p99.

Then the login storm: ``STORM_CLIENTS`` clients POST correct credentials to
``/auth/login`` over and over (each an argon2id verify at OWASP parameters
in the login actor's thread pool) while one client makes sequential
authenticated ``/echo`` calls; its p99 is paired with the p99 of the same
calls with no storm, in the same repetition (the order alternates). Every
login must answer 200; the logins/s achieved during the storm is a figure.

Every process started is stopped, then found by its marker and reaped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
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
    time_calls,
)

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent
SERVER: Final = HERE / "_edge_server.py"

IN_FLIGHT: Final = 16
STORM_CLIENTS: Final = 8
PASSWORD: Final = "correct horse battery staple"
USER: Final = "bench@example.com"
STORM_USER: Final = "storm@example.com"
BODY: Final = json.dumps({"text": "hello from the edge benchmark", "n": 42}).encode()
START_TIMEOUT: Final = 60.0
PHASE_TIMEOUT: Final = 180.0
"""No measurement phase may take longer than this (every loop is bounded in count too)."""

TARGETS: Final = {
    "authenticated_sequential_vs_bare": ">= 0.5",
    f"authenticated_inflight{IN_FLIGHT}_vs_bare": ">= 0.5",
    "storm_p99_vs_idle": "<= 2",
}


class BenchmarkFailed(RuntimeError):
    """A server did not start, or answered something other than what was measured."""


@dataclass(frozen=True, slots=True)
class Plan:
    repetitions: int
    sequential: int
    concurrent: int
    probe: int
    """Sequential /echo calls per idle or storm phase."""
    storm_clients: int
    warmup: int


@dataclass(frozen=True, slots=True)
class Sample:
    """What one measured phase found."""

    per_s: float
    latencies: list[float]
    """Sorted, in seconds."""

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 0.5) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000


# -- the servers ----------------------------------------------------------------------------


@dataclass
class Server:
    """One server process and the base URL it announced."""

    kind: str
    process: subprocess.Popen[bytes]
    url: str = ""


def spawn_server(kind: str, marker: str) -> Server:
    """Start ``_edge_server.py kind``, marked for reaping; it stops when its stdin closes."""
    env = {
        **os.environ,
        MARKER_ENV: marker,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, str(SERVER), kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    return Server(kind, process)


async def announced(server: Server) -> None:
    """Wait for the ``port <n>`` line and set the server's URL."""
    stdout = server.process.stdout
    assert stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), START_TIMEOUT)
    except TimeoutError:
        raise BenchmarkFailed(
            f"the {server.kind} server did not start in {START_TIMEOUT:.0f} s"
        ) from None
    word, _, port = line.decode(errors="replace").strip().partition(" ")
    if word != "port" or not port.isdigit():
        raise BenchmarkFailed(f"the {server.kind} server did not start (it said {line!r})")
    server.url = f"http://127.0.0.1:{port}"


async def stop_server(server: Server) -> None:
    """Close its stdin (it stops), wait, and terminate it if it does not."""
    process = server.process
    if process.poll() is None:
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.terminate()
            await asyncio.to_thread(process.wait, 10)
    if process.stdout is not None:
        process.stdout.close()


# -- the client -----------------------------------------------------------------------------


def session(connections: int) -> aiohttp.ClientSession:
    """An aiohttp session keeping up to ``connections`` keep-alive connections."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def post(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    async with client.post(url, data=body, headers=headers) as response:
        return response.status, await response.read()


async def post_json(
    client: aiohttp.ClientSession, url: str, payload: object, expect: int
) -> dict[str, Any]:
    status, body = await post(
        client, url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    if status != expect:
        raise BenchmarkFailed(f"POST {url} answered {status}, not {expect}: {body[:300]!r}")
    answer: dict[str, Any] = json.loads(body)
    return answer


async def measure(call: Callable[[], Awaitable[None]], count: int, in_flight: int) -> Sample:
    """Requests/s and the sorted latencies of ``count`` calls, ``in_flight`` at a time."""
    return Sample(*await time_calls(call, count, in_flight, timeout=PHASE_TIMEOUT))


def echo_call(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> Callable[[], Awaitable[None]]:
    """One ``POST /echo`` that must answer 200."""
    target = f"{url}/echo"

    async def call() -> None:
        status, body = await post(client, target, BODY, headers)
        if status != 200:
            raise BenchmarkFailed(f"POST {target} answered {status}: {body[:300]!r}")

    return call


@dataclass
class Storm:
    """``clients`` loops POSTing correct credentials to ``/auth/login`` until stopped."""

    client: aiohttp.ClientSession
    url: str
    clients: int
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    done: list[tuple[float, float, int]] = field(default_factory=list)
    """(finished at, latency in seconds, status) of every login."""
    first: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> Storm:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.clients)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Each client finishes the login it has in flight: the server is left with none queued.
        self._stopping = True
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self) -> None:
        target = f"{self.url}/auth/login"
        body = json.dumps({"email": STORM_USER, "password": PASSWORD}).encode()
        headers = {"Content-Type": "application/json"}
        deadline = time.perf_counter() + PHASE_TIMEOUT
        while not self._stopping and time.perf_counter() < deadline:
            started = time.perf_counter()
            status, _ = await post(self.client, target, body, headers)
            finished = time.perf_counter()
            self.statuses[status] += 1
            self.done.append((finished, finished - started, status))
            self.first.set()

    def logins_between(self, start: float, end: float) -> list[float]:
        """Latencies of the logins answered 200 between ``start`` and ``end``."""
        return [
            latency for at, latency, status in self.done if start <= at <= end and status == 200
        ]


async def storm_phase(
    call: Callable[[], Awaitable[None]], server: str, plan: Plan, statuses: collections.Counter[int]
) -> tuple[Sample, float, list[float]]:
    """The probe's sample while a storm runs, the storm's logins/s and its login latencies."""
    async with (
        session(plan.storm_clients) as client,
        Storm(client, server, plan.storm_clients) as storm,
    ):
        async with asyncio.timeout(PHASE_TIMEOUT):
            await storm.first.wait()  # the storm is under way: argon2 is running
        started = time.perf_counter()
        sample = await measure(call, plan.probe, 1)
        ended = time.perf_counter()
    statuses.update(storm.statuses)
    logins = storm.logins_between(started, ended)
    return sample, len(logins) / (ended - started), sorted(logins)


# -- the run -------------------------------------------------------------------------------


Series = dict[str, list[float | None]]


def record(series: Series, prefix: str, sample: Sample) -> None:
    series.setdefault(f"{prefix}_requests_per_s", []).append(sample.per_s)
    series.setdefault(f"{prefix}_p50_ms", []).append(sample.p50_ms)
    series.setdefault(f"{prefix}_p99_ms", []).append(sample.p99_ms)


async def measure_all(plan: Plan, marker: str) -> tuple[Series, collections.Counter[int]]:
    servers = [spawn_server(kind, marker) for kind in ("enotime", "bare")]
    series: Series = {}
    statuses: collections.Counter[int] = collections.Counter()
    try:
        await asyncio.gather(*(announced(server) for server in servers))
        ours, peer = servers
        async with session(IN_FLIGHT) as our_client, session(IN_FLIGHT) as peer_client:
            for email in (USER, STORM_USER):
                await post_json(
                    our_client,
                    f"{ours.url}/auth/register",
                    {"email": email, "password": PASSWORD},
                    202,
                )
            tokens = await post_json(
                our_client, f"{ours.url}/auth/login", {"email": USER, "password": PASSWORD}, 200
            )
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {tokens['access_token']}",
            }
            calls = {
                "enotime": echo_call(our_client, ours.url, headers),
                "bare": echo_call(peer_client, peer.url, headers),
            }
            for client, server in ((our_client, ours), (peer_client, peer)):
                status, body = await post(client, f"{server.url}/echo", BODY, headers)
                if status != 200 or json.loads(body) != json.loads(BODY):
                    raise BenchmarkFailed(f"the {server.kind} echo answered {status}: {body!r}")
            for call in calls.values():  # warm-up: connections, code paths, caches
                await measure(call, plan.warmup, IN_FLIGHT)
            await post_json(
                our_client,
                f"{ours.url}/auth/login",
                {"email": STORM_USER, "password": PASSWORD},
                200,
            )

            for rep in range(plan.repetitions):
                order = ("enotime", "bare") if rep % 2 == 0 else ("bare", "enotime")
                for name in order:
                    record(
                        series, f"{name}_sequential", await measure(calls[name], plan.sequential, 1)
                    )
                    record(
                        series,
                        f"{name}_inflight{IN_FLIGHT}",
                        await measure(calls[name], plan.concurrent, IN_FLIGHT),
                    )

            probe = calls["enotime"]
            for rep in range(plan.repetitions):
                for phase in ("idle", "storm") if rep % 2 == 0 else ("storm", "idle"):
                    if phase == "idle":
                        record(series, "idle", await measure(probe, plan.probe, 1))
                        continue
                    sample, logins_per_s, logins = await storm_phase(
                        probe, ours.url, plan, statuses
                    )
                    record(series, "storm", sample)
                    series.setdefault("storm_logins_per_s", []).append(logins_per_s)
                    series.setdefault("storm_login_p50_ms", []).append(
                        percentile(logins, 0.5) * 1000 if logins else None
                    )
    finally:
        await asyncio.gather(*(stop_server(server) for server in servers))
    return series, statuses


def build_report(
    series: Series, statuses: collections.Counter[int], plan: Plan, load: tuple[float, float]
) -> Report:
    report = Report("edge", targets=dict(TARGETS))
    for key, values in series.items():
        report.figures[key] = median(values)
    refused = sum(count for status, count in statuses.items() if status != 200)
    report.figures["storm_logins_not_200"] = float(refused)
    modes = (("sequential", "sequential"), (f"inflight{IN_FLIGHT}", f"{IN_FLIGHT} in flight"))
    for mode, label in modes:
        ratio = f"authenticated_{mode}_vs_bare"
        report.ratios[ratio] = paired_ratio(
            series[f"enotime_{mode}_requests_per_s"], series[f"bare_{mode}_requests_per_s"]
        )
        report.rows += [
            Row(
                f"requests/s, {label}",
                f"enotime_{mode}_requests_per_s",
                f"bare_{mode}_requests_per_s",
                ratio,
                ratio,
            ),
            Row(f"  p50 ms, {label}", f"enotime_{mode}_p50_ms", f"bare_{mode}_p50_ms"),
            Row(f"  p99 ms, {label}", f"enotime_{mode}_p99_ms", f"bare_{mode}_p99_ms"),
        ]
    # Ours is the call under the storm, the "peer" the same call idle: lower is better here.
    report.ratios["storm_p99_vs_idle"] = paired_ratio(series["storm_p99_ms"], series["idle_p99_ms"])
    report.rows += [
        Row(
            "/echo p99 ms, storm vs idle",
            "storm_p99_ms",
            "idle_p99_ms",
            "storm_p99_vs_idle",
            "storm_p99_vs_idle",
        ),
        Row("  p50 ms, storm vs idle", "storm_p50_ms", "idle_p50_ms"),
        Row("  logins/s during the storm", "storm_logins_per_s"),
        Row("  login p50 ms during the storm", "storm_login_p50_ms"),
        Row("  logins not answered 200", "storm_logins_not_200"),
    ]
    report.notes += [
        f"{plan.repetitions} repetitions; {plan.sequential} sequential and {plan.concurrent} "
        f"concurrent requests per server per repetition, {plan.probe} probe calls per idle or "
        f"storm phase; order alternates",
        f"client: aiohttp {aiohttp.__version__} ClientSession in this process, keep-alive, "
        f"1 or {IN_FLIGHT} requests in flight; each server in its own process (one Hypercorn "
        "server, default asyncio loop, 127.0.0.1); same body and headers both sides",
        "ENoTime path: request id, bearer EdDSA JWT (verified once, then from the front's "
        "token cache; exp and revocations checked each time), rate limiter ON with limits "
        "raised to 1e9/min per address, per subject and on the login routes "
        "(enotime.login.endpoints(login_limit=, strict_limit=)), pydantic validation, "
        "Worker role check, output model",
        f"storm: {plan.storm_clients} clients POSTing correct credentials to /auth/login "
        "(argon2id OWASP, off the loop) while 1 client calls /echo sequentially; "
        f"{os.cpu_count()} cores shared by both servers, the argon2 threads and this client",
        "the login actor handles one message at a time: one argon2 verify runs at a time and "
        "the other storm clients wait in its mailbox (hence the login p50)",
    ]
    report.notes.append(
        f"load average (1 min) {load[0]:.2f} before the run, {load[1]:.2f} after: whatever "
        "else runs on this machine shares its cores with the servers and the client"
    )
    if refused:
        report.notes.append(f"storm logins not answered 200: {dict(sorted(statuses.items()))}")
    if not statuses[200]:
        del report.ratios["storm_p99_vs_idle"]
        report.missing["storm_p99_vs_idle"] = "no login of the storm was answered 200"
    return report


def plan_for(args: argparse.Namespace) -> Plan:
    quick = args.quick
    return Plan(
        repetitions=args.repetitions or (3 if quick else 5),
        sequential=300 if quick else 1500,
        concurrent=1200 if quick else 6000,
        probe=600 if quick else 2000,
        storm_clients=args.storm_clients,
        warmup=200 if quick else 1000,
    )


def _extend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storm-clients", type=int, default=STORM_CLIENTS, help="concurrent login clients"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, _extend)
    plan = plan_for(args)
    marker = run_marker()
    with stdout_to_stderr(args.json):
        try:
            load_before = os.getloadavg()[0]
            series, statuses = asyncio.run(measure_all(plan, marker))
            report = build_report(series, statuses, plan, (load_before, os.getloadavg()[0]))
        except BenchmarkFailed as failure:
            report = Report("edge", targets=dict(TARGETS))
            report.missing = {name: str(failure) for name in TARGETS}
        finally:
            killed = reap_marked(marker, grace=2.0)
    if killed:
        report.notes.append(f"had to kill leftover processes {killed}")
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
