"""``enotime run --amqp [URL] --consul [URL]``: nodes that ``enotime run`` connects.

Real processes on the real RabbitMQ (skipped with the reason on a laptop
without one, failed in CI): a node exposing a service and a node calling it,
each an ``enotime run`` of a tree in ``_connected_trees`` that never opens a
transport itself; the same with ``--procs 2``; and a node registered in Consul
-- the fake agent of ``tests/integration/test_consul_http_api.py``, which
implements Consul's documented HTTP API, since no Consul server can run here.
The option checks run without any service.

Every wait is on an output line or an exit status, with a deadline. Each test
uses an exchange of its own and deletes what the run leaves on the broker by
design (the durable node, service and dead-letter queues and the exchanges;
docs/processes.md) after checking that nothing else is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from enotime._cli import _parser
from enotime._connect import (
    AMQP_URL_ENV,
    CONSUL_ADDR_ENV,
    CONSUL_TOKEN_ENV,
    ConnectOptions,
    UsageError,
    child_options,
    connect_options,
    redact,
)
from enotime.process import marked_pids, reap_marked
from enotime.registry import NODE_SERVICE
from enotime.transport import Keyring, WireKey
from enotime.transport._keys import ENV_VAR as WIRE_KEYS_ENV
from tests.integration.test_consul_http_api import FakeConsul, lower_keys, serve_fake_consul
from tests.system._connected_trees import SERVER_ENV, SERVICE

ROOT = Path(__file__).resolve().parents[2]
TREES = "tests.system._connected_trees"
MARKER_VAR = "ENOTIME_TEST_RUN_CONNECTED"
WAIT = 20.0
"""Seconds any one expected line or exit may take."""


class NodeProcess:
    """One ``enotime run`` process: its output lines as they come, its exit status."""

    def __init__(self, process: asyncio.subprocess.Process, marker: str) -> None:
        self.process = process
        self.marker = marker
        self.lines: list[str] = []
        self._read = 0
        self._ended = False

    @classmethod
    async def start(cls, *args: str, env: dict[str, str]) -> NodeProcess:
        marker = uuid.uuid4().hex
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "enotime",
            "run",
            *args,
            cwd=ROOT,
            env={**os.environ, **env, MARKER_VAR: marker, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process, marker)

    async def expect(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """The next output line matching ``pattern`` (lines before it are kept, not matched again).

        Fails after ``timeout`` seconds, or when the output ends.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while self._read < len(self.lines):
                        line = self.lines[self._read]
                        self._read += 1
                        if (match := re.search(pattern, line)) is not None:
                            return match
                    if not await self._next_line():
                        break
        except TimeoutError:
            pass
        pytest.fail(f"no line matching {pattern!r} within {timeout} s in:\n{self.output()}")

    async def _next_line(self) -> bool:
        assert self.process.stdout is not None
        if self._ended:
            return False
        raw = await self.process.stdout.readline()
        if not raw:
            self._ended = True
            return False
        self.lines.append(raw.decode(errors="replace").rstrip("\n"))
        return True

    async def stop(self, timeout: float = WAIT) -> int:
        """SIGTERM, then the exit status once the output has been read to its end."""
        self.process.send_signal(signal.SIGTERM)
        return await self.wait(timeout)

    async def wait(self, timeout: float = WAIT) -> int:
        async with asyncio.timeout(timeout):
            while await self._next_line():
                pass
            return await self.process.wait()

    def output(self) -> str:
        return "\n".join(self.lines)

    async def clean_up(self) -> None:
        """Kill it and whatever it started, by PID, if a test left it running."""
        if self.process.returncode is None:
            self.process.kill()
            await self.wait()
        await asyncio.to_thread(reap_marked, self.marker, 0.5, MARKER_VAR)


class Cluster:
    """The environment of one test's nodes: an exchange and a wire key of its own."""

    def __init__(self, url: str, runtime_dir: Path) -> None:
        self.url = url
        self.exchange = f"enotime-test-run-{uuid.uuid4().hex[:12]}"
        self.suffix = uuid.uuid4().hex[:8]
        self.env = {
            WIRE_KEYS_ENV: WireKey.generate("run-test").encoded(),
            "ENOTIME_RUNTIME_DIR": str(runtime_dir),  # `enotime status` sockets of the test
        }
        self.processes: list[NodeProcess] = []
        self.node_names: list[str] = []
        self.services: list[str] = []

    def name(self, role: str) -> str:
        return f"{role}-{self.suffix}"

    async def run(self, tree: str, name: str, *args: str, **env: str) -> NodeProcess:
        """``enotime run TREE --name NAME --amqp-exchange <ours> ARGS`` (add ``--amqp``)."""
        process = await NodeProcess.start(
            f"{TREES}:{tree}",
            "--name",
            name,
            "--amqp-exchange",
            self.exchange,
            *args,
            env={**self.env, **env},
        )
        self.processes.append(process)
        return process

    async def queues(self) -> set[str] | None:
        """The queues of this test's exchange on the broker, or None without rabbitmqctl."""
        return await asyncio.to_thread(_queues, f"{self.exchange}.")

    async def aclose(self) -> None:
        for process in self.processes:
            await process.clean_up()
        await self.delete_topology()

    async def delete_topology(self) -> None:
        """Delete what the nodes leave by design: durable queues and the exchanges."""
        import aio_pika

        names = [f"{self.exchange}.node.{name}" for name in self.node_names]
        names += [f"{self.exchange}.service.{name}" for name in self.services]
        names.append(f"{self.exchange}.dead")
        connection = await aio_pika.connect(self.url)
        try:
            async with asyncio.timeout(WAIT):
                channel = await connection.channel()
                for name in names:
                    await channel.queue_delete(name)
                for exchange in (self.exchange, f"{self.exchange}.dlx"):
                    await channel.exchange_delete(exchange)
        finally:
            await connection.close()

    def left_by_design(self) -> set[str]:
        return {
            *(f"{self.exchange}.node.{name}" for name in self.node_names),
            *(f"{self.exchange}.service.{name}" for name in self.services),
            f"{self.exchange}.dead",
        }


def _queues(prefix: str) -> set[str] | None:
    """Names of the broker's queues starting with ``prefix``; None if rabbitmqctl cannot say."""
    ctl = shutil.which("rabbitmqctl") or (
        "/usr/sbin/rabbitmqctl" if os.access("/usr/sbin/rabbitmqctl", os.X_OK) else None
    )
    if ctl is None:
        return None
    try:
        done = subprocess.run(
            [ctl, "-q", "list_queues", "name", "--formatter", "json"],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return {q["name"] for q in json.loads(done.stdout) if q["name"].startswith(prefix)}


async def _check_nothing_else_left(cluster: Cluster) -> None:
    """No process of the runs alive; on the broker, only the queues left by design."""
    for process in cluster.processes:
        assert await asyncio.to_thread(marked_pids, process.marker, MARKER_VAR) == []
    queues = await cluster.queues()
    if queues is not None:  # else rabbitmqctl may not list queues here: the deletes still run
        # The reply queues are exclusive: they went with the nodes' connections.
        assert queues == cluster.left_by_design()


# -- two nodes ------------------------------------------------------------------------------


async def test_two_run_nodes_call_across_the_broker_and_stop_cleanly(cluster: Cluster) -> None:
    server, client = cluster.name("srv"), cluster.name("cli")
    cluster.node_names += [server, client]
    cluster.services.append(SERVICE)
    # The server takes the URL from the environment, the client from its option.
    serving = await cluster.run("server", server, "--amqp", **{AMQP_URL_ENV: cluster.url})
    server_pid = int((await serving.expect(rf"^serving {server} (\d+)$"))[1])
    calling = await cluster.run("client", client, "--amqp", cluster.url, **{SERVER_ENV: server})

    by_service = await calling.expect(r"^service answered: (.*)$")
    assert by_service[1] == f"HELLO from {server} pid {server_pid}"
    by_node = await calling.expect(r"^node answered: (.*)$")
    assert by_node[1] == f"AGAIN from {server} pid {server_pid}"
    assert f"connected to {redact(cluster.url)}" in calling.output()
    assert "guest:guest@" not in calling.output()  # the password is never logged

    assert await calling.stop() == 0, calling.output()
    assert await serving.stop() == 0, serving.output()
    for process, name in ((serving, server), (calling, client)):
        assert f"stopping {name}" in process.output()
        assert "transport of node" in process.output()  # closed after the node stopped
    await _check_nothing_else_left(cluster)


async def test_procs_children_connect_with_the_same_options(cluster: Cluster) -> None:
    servers, client = cluster.name("srv"), cluster.name("cli")
    cluster.node_names += [f"{servers}-1", f"{servers}-2", client]
    cluster.services.append(SERVICE)
    serving = await cluster.run("server", servers, "--procs", "2", "--amqp", cluster.url)
    pids = {}
    for _ in range(2):
        match = await serving.expect(rf"^serving ({servers}-[12]) (\d+)$")
        pids[match[1]] = int(match[2])
    assert set(pids) == {f"{servers}-1", f"{servers}-2"}
    # The URL reached the children through their environment, not their command line.
    for pid in pids.values():
        cmdline = (await asyncio.to_thread(Path(f"/proc/{pid}/cmdline").read_bytes)).split(b"\0")
        assert b"--amqp" in cmdline
        assert cluster.url.encode() not in cmdline

    calling = await cluster.run(
        "client", client, "--amqp", cluster.url, **{SERVER_ENV: f"{servers}-2"}
    )
    answer = await calling.expect(r"^service answered: HELLO from (\S+) pid (\d+)$")
    assert pids[answer[1]] == int(answer[2])
    by_node = await calling.expect(r"^node answered: (.*)$")
    assert by_node[1] == f"AGAIN from {servers}-2 pid {pids[f'{servers}-2']}"

    assert await calling.stop() == 0, calling.output()
    assert await serving.stop() == 0, serving.output()
    await _check_nothing_else_left(cluster)


# -- Consul ----------------------------------------------------------------------------------


@pytest.fixture
async def consul() -> AsyncIterator[FakeConsul]:
    async with serve_fake_consul() as fake:
        yield fake


async def test_consul_registration_carries_the_metrics_port(
    cluster: Cluster, consul: FakeConsul
) -> None:
    name = cluster.name("reg")
    cluster.node_names.append(name)
    cluster.services.append(SERVICE)
    node = await cluster.run(
        "server",
        name,
        "--amqp",
        cluster.url,
        "--consul",  # from CONSUL_HTTP_ADDR
        "--metrics-port",
        "0",
        "--registration-ttl",
        "5",
        "--session-ttl",
        "20",
        "--lock-delay",
        "2",
        **{CONSUL_ADDR_ENV: consul.url, CONSUL_TOKEN_ENV: "node-token"},
    )
    await node.expect(rf"^serving {name} \d+$")  # registered before the tree started

    instance_id = f"{NODE_SERVICE}:{name}"
    registered = consul.services[instance_id]
    assert registered["Service"] == NODE_SERVICE
    assert registered["Address"] == "127.0.0.1"  # --metrics-host, the default
    metrics_port = int(registered["Meta"]["metrics_port"])
    assert registered["Meta"] == {"enotime_node": name, "metrics_port": str(metrics_port)}
    assert registered["check"]["Status"] == "passing"
    assert registered["check"]["ttl"] == 5  # --registration-ttl
    assert {r.token for r in consul.requests} == {"node-token"}
    (session,) = consul.sessions.values()  # the gateway's, for global names
    assert (session["ttl"], session["lock_delay"]) == (20, 2)  # --session-ttl, --lock-delay
    # Prometheus would scrape <address>:<metrics_port>/metrics: the node serves it there.
    body = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics_port}/metrics")
    assert f'enotime_node_info{{node="{name}"' in body

    assert await node.stop() == 0, node.output()
    assert consul.sent("PUT", f"/v1/agent/service/deregister/{instance_id}")
    assert consul.services == {}
    assert consul.sessions == {}
    await _check_nothing_else_left(cluster)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        text: str = response.read().decode()
        return text


async def test_a_connected_node_registers_with_its_address_and_metadata(
    consul: FakeConsul,
) -> None:
    """What `enotime run --consul --metrics-port` has the gateway register (no broker)."""
    from enotime import Node
    from enotime.registry import ConsulRegistry
    from enotime.transport import LocalBroker, LocalTransport

    keyring = Keyring.generate()
    async with (
        ConsulRegistry(consul.url, token="t") as registry,
        LocalTransport(LocalBroker(keyring), "node-1") as transport,
        Node("node-1") as node,
    ):
        await transport.open()
        await node.connect(
            transport, registry=registry, node_address="node-1", node_meta={"metrics_port": "9464"}
        )
        await registry.register_node("other")  # any other registration is left as asked
        await node.aclose()
    node_registration, other = (
        lower_keys(sent.json()) for sent in consul.sent("PUT", "/v1/agent/service/register")
    )
    assert node_registration["id"] == f"{NODE_SERVICE}:node-1"
    assert node_registration["address"] == "node-1"
    assert node_registration["meta"] == {"enotime_node": "node-1", "metrics_port": "9464"}
    assert other["id"] == f"{NODE_SERVICE}:other"
    assert other["meta"] == {"enotime_node": "other"}
    assert "address" not in other


# -- the options -----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in (AMQP_URL_ENV, CONSUL_ADDR_ENV, CONSUL_TOKEN_ENV, WIRE_KEYS_ENV):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _options(*argv: str) -> ConnectOptions | None:
    args = _parser().parse_args(["run", "app:tree", *argv])
    return connect_options(args)


KEY = WireKey.generate("k1").encoded()


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--amqp", "amqp://h/"], {}, "ENOTIME_WIRE_KEYS"),
        (["--amqp"], {WIRE_KEYS_ENV: KEY}, "$ENOTIME_AMQP_URL, which is not set"),
        (["--amqp", "http://h/"], {WIRE_KEYS_ENV: KEY}, "expected amqp[s]://"),
        (["--amqp", "amqp://h:99999/"], {WIRE_KEYS_ENV: KEY}, "not a URL"),
        (["--amqp", "amqp://h/"], {WIRE_KEYS_ENV: "k1:not base64!"}, "not valid base64"),
        (["--amqp", "amqp://h/"], {WIRE_KEYS_ENV: "k1:AAAA"}, "must be 32 bytes"),
        (["--consul", "http://c:8500"], {}, "--consul needs --amqp"),
        (["--amqp-exchange", "x"], {}, "--amqp-exchange needs --amqp"),
        (["--amqp", "amqp://h/", "--consul"], {WIRE_KEYS_ENV: KEY}, "$CONSUL_HTTP_ADDR"),
        (["--amqp", "amqp://h/", "--consul", "ftp://c"], {WIRE_KEYS_ENV: KEY}, "http[s]://"),
        (
            ["--amqp", "amqp://h/", "--advertise-address", "a"],
            {WIRE_KEYS_ENV: KEY},
            "--advertise-address needs --consul",
        ),
        (["--amqp", "amqp://h/", "--name", "a.b"], {WIRE_KEYS_ENV: KEY}, "--name 'a.b'"),
        (["--amqp", "amqp://h/", "--amqp-exchange", "a b"], {WIRE_KEYS_ENV: KEY}, "a b"),
        (["--amqp", "amqp://h/", "--wire-keys-file", "/nonexistent"], {}, "/nonexistent"),
        (["--session-ttl", "20"], {}, "--session-ttl needs --amqp"),
        (
            ["--amqp", "amqp://h/", "--lock-delay", "5"],
            {WIRE_KEYS_ENV: KEY},
            "--lock-delay needs --consul",
        ),
        (
            ["--amqp", "amqp://h/", "--consul", "c:8500", "--session-ttl", "5"],
            {WIRE_KEYS_ENV: KEY},
            "--session-ttl must be a number of seconds from 10 to 86400, not 5.0",
        ),
        (
            ["--amqp", "amqp://h/", "--consul", "c:8500", "--lock-delay", "61"],
            {WIRE_KEYS_ENV: KEY},
            "--lock-delay must be a number of seconds from 0 to 60",
        ),
        (
            ["--amqp", "amqp://h/", "--consul", "c:8500", "--registration-ttl", "nan"],
            {WIRE_KEYS_ENV: KEY},
            "--registration-ttl must be a number of seconds from 1 to 86400, not nan",
        ),
    ],
)
def test_bad_options_are_usage_errors(
    clean_env: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], message: str
) -> None:
    for var, value in env.items():
        clean_env.setenv(var, value)
    with pytest.raises(UsageError) as raised:
        _options(*argv)
    assert message in str(raised.value)
    assert KEY.partition(":")[2] not in str(raised.value)


def test_the_command_exits_2_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (WIRE_KEYS_ENV, AMQP_URL_ENV)}
    done = subprocess.run(
        [sys.executable, "-m", "enotime", "run", f"{TREES}:server", "--amqp", "amqp://h/"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 2
    assert "enotime run: error: --amqp needs the wire keys" in done.stderr
    assert "nothing travels between nodes in plain text" in done.stderr


def test_the_environment_alone_connects_nothing(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(AMQP_URL_ENV, "amqp://h/")
    clean_env.setenv(CONSUL_ADDR_ENV, "c:8500")
    assert _options() is None


def test_defaults_and_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(WIRE_KEYS_ENV, KEY)
    clean_env.setenv(AMQP_URL_ENV, "amqp://u:secret@rabbit:5672/v")
    clean_env.setenv(CONSUL_ADDR_ENV, "consul:8500")  # Consul's variable omits the scheme
    clean_env.setenv(CONSUL_TOKEN_ENV, "tok")
    options = _options("--amqp", "--consul", "--metrics-port", "9464")
    assert options is not None
    assert options.amqp_url == "amqp://u:secret@rabbit:5672/v"
    assert options.exchange == "enotime"
    assert options.keyring.current == "k1"
    assert options.consul == "http://consul:8500"
    assert options.consul_token == "tok"
    assert options.advertise_address == "127.0.0.1"  # the metrics host
    assert "secret" not in repr(options)
    assert "tok" not in repr(options)
    assert options.node_meta(9464) == {"metrics_port": "9464"}
    assert options.node_meta(None) == {}
    wildcard = _options("--amqp", "--consul", "--metrics-port", "1", "--metrics-host", "0.0.0.0")
    assert wildcard is not None
    assert wildcard.advertise_address not in ("", "0.0.0.0")  # this host's name
    no_metrics = _options("--amqp", "--consul")
    assert no_metrics is not None
    assert no_metrics.advertise_address == ""  # Consul uses its agent's address
    assert no_metrics.registry_times == {}  # the gateway's defaults: 10 s, 15 s, 15 s
    assert redact(options.amqp_url) == "amqp://u:***@rabbit:5672/v"


def test_procs_children_get_the_same_options(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": {"k9": KEY.partition(":")[2]}}))
    keys.chmod(0o600)
    parent = _options(
        "--amqp",
        "amqp://u:secret@rabbit/",
        "--amqp-exchange",
        "ex",
        "--wire-keys-file",
        str(keys),
        "--consul",
        "http://consul:8500",
        "--advertise-address",
        "node.example",
        "--session-ttl",
        "30",
        "--lock-delay",
        "0",
    )
    assert parent is not None
    assert parent.registry_times == {"session_ttl": 30, "lock_delay": 0}
    argv, env = child_options(parent)
    assert "secret" not in " ".join(argv)
    assert env == {AMQP_URL_ENV: "amqp://u:secret@rabbit/"}
    for var, value in env.items():
        clean_env.setenv(var, value)
    child = _options("--name", "n-1", *argv)
    assert child is not None
    assert child.keyring.kids == parent.keyring.kids == ("k9",)
    same = (
        "amqp_url",
        "exchange",
        "wire_keys_file",
        "consul",
        "advertise_address",
        "registry_times",
    )
    assert {f: getattr(child, f) for f in same} == {f: getattr(parent, f) for f in same}
