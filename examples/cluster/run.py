"""The one command: a three-node cluster, a client, a ``kill -9``, a summary.

``python -m examples.cluster`` (from the repository root):

1. starts ``enotime run examples.cluster.node:tree --procs 3 --name demo`` with
   an exchange and a wire key of its own in the environment;
2. once the three nodes serve ``jobs``, a client node in this process submits
   30 jobs to the service: the nodes compete for them (load balancing);
3. when ``demo-2`` has finished a job and started the next, it gets ``kill -9``:
   the process supervisor restarts it, and the job it had in flight (never
   acked) is redelivered to a surviving node that answers it (at least once);
4. prints a summary, stops the cluster with SIGTERM (exit 0 expected),
   deletes the exchange and queues of the run, and exits 0 if every job was
   answered, the job in flight by a surviving node, every node handled some
   and the cluster stopped cleanly.

Every process of the run carries a marker in its environment and is killed by
PID on the way out, even after a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from enotime import Node
from enotime.process import new_marker, reap_marked, with_marker
from enotime.transport import AmqpTransport, Keyring
from examples.cluster.jobs import Done, Job
from examples.cluster.node import DEFAULT_URL, EXCHANGE_ENV, SERVICE

ROOT = Path(__file__).resolve().parents[2]
MARKER_VAR = "ENOTIME_CLUSTER_EXAMPLE"
NODES = ("demo-1", "demo-2", "demo-3")
VICTIM = "demo-2"
CLIENT = "demo-client"
WAIT = 60.0
"""Seconds any one expected line, the jobs, or the cluster's exit may take."""


def out(line: str) -> None:
    print(line, flush=True)


@dataclass
class ClusterOutput:
    """The cluster command's output lines, echoed as they come, waitable by pattern."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    ended: bool = False

    async def read(self) -> None:
        assert self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            line = raw.decode(errors="replace").rstrip("\n")
            out(f"  cluster | {line}")
            async with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        async with self.changed:
            self.ended = True
            self.changed.notify_all()

    async def expect(self, pattern: str, start: int = 0) -> tuple[re.Match[str], int]:
        """The first line from index ``start`` on matching ``pattern``, and its index."""
        index = start
        async with asyncio.timeout(WAIT), self.changed:
            while True:
                while index < len(self.lines):
                    if match := re.search(pattern, self.lines[index]):
                        return match, index
                    index += 1
                if self.ended:
                    raise RuntimeError(f"the cluster's output ended before {pattern!r}")
                await self.changed.wait()


def broker_problem(url: str) -> str | None:
    """None when something answers on the broker's port, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            return None
    except OSError as exc:
        return f"no RabbitMQ at {parts.hostname}:{parts.port or 5672} ({exc})"


async def delete_topology(url: str, exchange: str) -> None:
    """Delete the queues and exchanges this run declared (on a connection of its own)."""
    import aio_pika

    queues = [f"{exchange}.node.{name}" for name in (*NODES, CLIENT)]
    queues += [f"{exchange}.service.{SERVICE}", f"{exchange}.dead"]
    connection = await aio_pika.connect(url)
    try:
        async with asyncio.timeout(WAIT):
            channel = await connection.channel()
            for queue in queues:
                await channel.queue_delete(queue)
            for name in (exchange, f"{exchange}.dlx"):
                await channel.exchange_delete(name)
    finally:
        await connection.close()


async def submit(
    url: str, keyring: Keyring, exchange: str, jobs: int, seconds: float
) -> list[Done]:
    """A client node: ``jobs`` calls to the service at once; the answers, in job order."""
    async with (
        AmqpTransport(url, CLIENT, keyring=keyring, exchange=exchange) as transport,
        Node(CLIENT) as node,
    ):
        await node.connect(transport)
        service = node.service(SERVICE)
        out(f"client: submitting {jobs} jobs to service {SERVICE!r}")
        calls = [service.call(Job(i, i, seconds), timeout=WAIT) for i in range(1, jobs + 1)]
        return list(await asyncio.gather(*calls))


async def kill_and_watch_restart(cluster: ClusterOutput, pid: int, start: int) -> int:
    """``kill -9`` the victim mid-job; its new PID once the restarted node serves again."""
    _, index = await cluster.expect(rf"^{VICTIM} pid {pid} finished job \d+$", start)
    match, index = await cluster.expect(rf"^{VICTIM} pid {pid} started job (\d+)$", index)
    os.kill(pid, signal.SIGKILL)
    out(f"*** kill -9 {VICTIM} (pid {pid}) while job {match.group(1)} is in flight")
    await cluster.expect(rf"process {VICTIM} \(pid {pid}\) exited .*restarting", index)
    restarted, _ = await cluster.expect(rf"^{VICTIM} pid (\d+) serving {SERVICE}$", index)
    new_pid = int(restarted.group(1))
    out(f"*** {VICTIM} restarted by the process supervisor as pid {new_pid}")
    return new_pid


def summary(jobs: int, answers: list[Done], lines: list[str], killed: int, new_pid: int) -> bool:
    """Print what happened; True if every job was answered, right, and every node took some."""
    by_node = Counter(done.node for done in answers)
    by_pid = Counter(done.pid for done in answers)
    wrong = [done.job for done in answers if done.result != done.job * done.job]
    started = {
        int(m.group(1))
        for x in lines
        if (m := re.match(rf"{VICTIM} pid {killed} started job (\d+)$", x))
    }
    finished = {
        int(m.group(1))
        for x in lines
        if (m := re.match(rf"{VICTIM} pid {killed} finished job (\d+)$", x))
    }
    # Every node process the supervisor started, but the one killed, is a survivor.
    survivors = {
        int(m.group(1))
        for x in lines
        if (m := re.search(r"process demo-\d started \(pid (\d+)", x))
    } - {killed}
    in_flight_answered_by_survivors = True
    out(f"summary: {jobs} jobs submitted, {len(answers)} answered, {jobs - len(answers)} lost")
    for name in NODES:
        line = f"  {name}: {by_node[name]} jobs"
        if name == VICTIM:
            line += f" ({by_pid[killed]} by pid {killed},"
            line += f" {by_pid[new_pid]} by pid {new_pid} after the restart)"
        out(line)
    for job in sorted(started - finished):
        done = answers[job - 1]
        survived = done.pid in survivors
        in_flight_answered_by_survivors &= survived
        out(
            f"  job {job} was in flight on {VICTIM} (pid {killed}) when it was killed:"
            f" redelivered, answered by {done.node} (pid {done.pid}),"
            f" {'a surviving node' if survived else 'NOT a surviving node'}"
        )
    out(f"  wrong results: {wrong or 'none'}")
    return (
        len(answers) == jobs
        and not wrong
        and all(by_node[name] > 0 for name in NODES)
        and in_flight_answered_by_survivors
    )


async def run(url: str, jobs: int, seconds: float) -> int:
    exchange = f"enotime-cluster-{uuid.uuid4().hex[:12]}"
    keyring = Keyring.generate("demo")
    marker = new_marker()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "ENOTIME_AMQP_URL": url,
        EXCHANGE_ENV: exchange,
        "ENOTIME_WIRE_KEYS": keyring.key(keyring.current).encoded(),
    }
    command = ["enotime", "run", "examples.cluster.node:tree", "--procs", "3", "--name", "demo"]
    out(f"$ {' '.join(command)}    (exchange {exchange})")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *command,
        cwd=ROOT,
        env=with_marker(env, marker, var=MARKER_VAR),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    cluster = ClusterOutput(process)
    reader = asyncio.create_task(cluster.read())
    try:
        started, _ = await cluster.expect(rf"process {VICTIM} started \(pid (\d+)")
        victim = int(started.group(1))
        for name in NODES:
            await cluster.expect(rf"^{name} pid \d+ serving {SERVICE}$")
        out("all three nodes serve 'jobs'")
        start = len(cluster.lines)
        answers, new_pid = await asyncio.gather(
            submit(url, keyring, exchange, jobs, seconds),
            kill_and_watch_restart(cluster, victim, start),
        )
        out(f"client: {len(answers)} answers received")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            code = await process.wait()
            await reader
        ok = summary(jobs, answers, cluster.lines, victim, new_pid)
        out(f"cluster stopped with SIGTERM: exit {code}")
        ok = ok and code == 0
        out("result: OK" if ok else "result: FAILED")
        return 0 if ok else 1
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        for pid in reap_marked(marker, grace=0.5, var=MARKER_VAR):
            out(f"killed leftover process {pid}")
        await delete_topology(url, exchange)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.cluster", description=__doc__)
    parser.add_argument("--jobs", type=int, default=30, help="jobs to submit (default 30)")
    parser.add_argument("--seconds", type=float, default=0.5, help="work per job (default 0.5)")
    args = parser.parse_args(argv)
    url = os.environ.get("ENOTIME_AMQP_URL", DEFAULT_URL)
    if (problem := broker_problem(url)) is not None:
        out(f"{problem}: start it first (scripts/services/rabbitmq start)")
        return 2
    return asyncio.run(run(url, args.jobs, args.seconds))
