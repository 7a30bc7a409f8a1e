"""The Consul adapter against Consul's *documented* HTTP API -- not a real Consul.

No Consul server can be installed on the machines this project is built on. A
small aiohttp server on 127.0.0.1 (:class:`FakeConsul`) implements the
endpoints the adapter uses -- ``/v1/agent/service/register|deregister``,
``/v1/agent/check/pass``, ``/v1/health/service`` (``?passing``), ``/v1/kv``
(``?cas``, ``?acquire``, ``?release``, ``?recurse``), ``/v1/session/create|
renew|destroy|info`` and blocking queries (``?index``/``?wait`` with
``X-Consul-Index``) -- as Consul's API documentation describes them, with a
clock the test moves by hand, and records every request. These tests check
that the adapter sends the documented method, path, query and body and maps
the documented answers to the port's types and errors. Behaviour against a
real Consul is the contract suite run live with ``CONSUL_HTTP_ADDR``
(tests/contract/test_registry.py), which also runs on this fake.

Where the documentation is silent the fake follows Consul's source as we
understand it; docs/registry.md lists those points.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from enotime.registry import (
    ConsulRegistry,
    InvalidArgument,
    RegistryUnavailable,
    SessionInvalidated,
)

_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
SESSION_TTL_MULTIPLIER = 2  # Consul invalidates a session at up to twice its TTL


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (``"10s"``, ``"1500ms"``, ``"1m30s"``, ``"0.0s"``)."""
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"time: invalid duration {text!r}")
    return total


def lower_keys(body: Any) -> dict[str, Any]:
    """Go's encoding/json matches field names case-insensitively; so does the fake."""
    return {k.lower(): v for k, v in body.items()} if isinstance(body, dict) else {}


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    token: str | None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class FakeConsul:
    """An in-process stand-in for a Consul agent's HTTP API, on a hand-moved clock."""

    url: str = ""
    now: float = 0.0
    node: str = "fake-agent"
    requests: list[Request] = field(default_factory=list)
    index: int = 1
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_index: dict[str, int] = field(default_factory=dict)
    kv: dict[str, dict[str, Any]] = field(default_factory=dict)
    kv_index: int = 1
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock_delays: dict[str, float] = field(default_factory=dict)
    fail: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False

    # -- test controls -------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the fake's clock and apply every TTL due (checks, sessions)."""
        self.now += seconds
        self.reap()

    def sent(self, method: str, path_prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def forget_services(self) -> None:
        """As an agent that lost its state: every service and check is gone."""
        for service_id in list(self.services):
            self._remove(service_id)

    # -- state ---------------------------------------------------------------------------

    def _next(self) -> int:
        self.index += 1
        return self.index

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def _bump_service(self, name: str) -> None:
        self.service_index[name] = self._next()
        self._wake()

    def _remove(self, service_id: str) -> None:
        service = self.services.pop(service_id)
        self._bump_service(service["Service"])

    def reap(self) -> None:
        for service_id, service in list(self.services.items()):
            check = service["check"]
            if check["Status"] == "passing" and self.now >= check["expires"]:
                check["Status"] = "critical"
                check["critical_since"] = check["expires"]
                self._bump_service(service["Service"])
            after = check.get("deregister_after")
            if (
                check["Status"] == "critical"
                and after is not None
                and self.now >= check["critical_since"] + after
            ):
                self._remove(service_id)
        for session_id, session in list(self.sessions.items()):
            ttl = session["ttl"]
            if ttl and self.now >= session["renewed"] + SESSION_TTL_MULTIPLIER * ttl:
                self._invalidate(session_id)

    def _invalidate(self, session_id: str) -> None:
        session = self.sessions.pop(session_id)
        for key, entry in list(self.kv.items()):
            if entry.get("Session") != session_id:
                continue
            if session["lock_delay"] > 0:
                self.lock_delays[key] = self.now + session["lock_delay"]
            self.kv_index = self._next()
            if session["Behavior"] == "delete":
                del self.kv[key]
            else:
                entry.pop("Session")
                entry["ModifyIndex"] = self.kv_index
        self._wake()

    async def _block(self, request: web.Request, current: Callable[[], int]) -> None:
        """A blocking query: wait while the index has not moved past ``?index``."""
        index = int(request.query.get("index", "0") or 0)
        if index <= 0:
            return
        wait = min(parse_duration(request.query.get("wait", "5m")), 600.0)
        try:
            async with asyncio.timeout(wait):
                while current() <= index and not self.closing:
                    await self.changed.wait()
        except TimeoutError:
            pass

    # -- HTTP ----------------------------------------------------------------------------

    @staticmethod
    def reply(body: Any = None, status: int = 200, index: int | None = None) -> web.Response:
        headers = {}
        if index is not None:
            headers = {
                "X-Consul-Index": str(index),
                "X-Consul-KnownLeader": "true",
                "X-Consul-LastContact": "0",
            }
        if isinstance(body, str):
            return web.Response(text=body, status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    @web.middleware
    async def record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(
            Request(
                request.method,
                request.path,
                dict(request.query),
                await request.read(),
                request.headers.get("X-Consul-Token"),
            )
        )
        failure = self.fail.get((request.method, request.path))
        if failure is not None:
            return self.reply(failure[1], status=failure[0])
        self.reap()
        response: web.StreamResponse = await handler(request)
        return response

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.record])
        app.router.add_put("/v1/agent/service/register", self.service_register)
        app.router.add_put("/v1/agent/service/deregister/{id}", self.service_deregister)
        app.router.add_put("/v1/agent/check/pass/{id}", self.check_pass)
        app.router.add_get("/v1/health/service/{name}", self.health_service)
        app.router.add_get("/v1/kv/{key:.*}", self.kv_get)
        app.router.add_put("/v1/kv/{key:.*}", self.kv_put)
        app.router.add_delete("/v1/kv/{key:.*}", self.kv_delete)
        app.router.add_put("/v1/session/create", self.session_create)
        app.router.add_put("/v1/session/renew/{id}", self.session_renew)
        app.router.add_put("/v1/session/destroy/{id}", self.session_destroy)
        app.router.add_get("/v1/session/info/{id}", self.session_info)
        return app

    # /v1/agent/service/register -- docs: "Register Service"
    async def service_register(self, request: web.Request) -> web.Response:
        body = lower_keys(json.loads(await request.read() or b"{}"))
        name = body.get("name")
        if not name:
            return self.reply("Missing service name", 400)
        service_id = body.get("id") or name
        check = lower_keys(body.get("check"))
        if not check.get("ttl"):
            return self.reply("only TTL checks are implemented by this fake", 400)
        try:
            ttl = parse_duration(check["ttl"])
            after = check.get("deregistercriticalserviceafter")
            deregister_after = parse_duration(after) if after else None
        except ValueError as exc:
            return self.reply(f"Invalid check: {exc}", 400)
        status = check.get("status") or "critical"  # docs: TTL checks start critical
        previous = self.services.get(service_id)
        if previous is not None and previous["Service"] != name:
            self._bump_service(previous["Service"])
        self.services[service_id] = {
            "ID": service_id,
            "Service": name,
            "Tags": body.get("tags") or [],
            "Address": body.get("address") or "",
            "Port": body.get("port") or 0,
            "Meta": body.get("meta") or {},
            "check": {
                "CheckID": check.get("checkid") or f"service:{service_id}",
                "Name": check.get("name") or f"Service '{name}' check",
                "Status": status,
                "ttl": ttl,
                "expires": self.now + ttl,
                "critical_since": self.now,
                "deregister_after": deregister_after,
            },
        }
        self._bump_service(name)
        return self.reply("")

    # /v1/agent/service/deregister/:service_id
    async def service_deregister(self, request: web.Request) -> web.Response:
        service_id = request.match_info["id"]
        if service_id not in self.services:
            return self.reply(f'Unknown service ID "{service_id}"', 404)
        self._remove(service_id)
        return self.reply("")

    # /v1/agent/check/pass/:check_id -- docs: "TTL Check Pass"
    async def check_pass(self, request: web.Request) -> web.Response:
        check_id = request.match_info["id"]
        for service in self.services.values():
            check = service["check"]
            if check["CheckID"] == check_id:
                check["expires"] = self.now + check["ttl"]
                if check["Status"] != "passing":
                    check["Status"] = "passing"
                    self._bump_service(service["Service"])
                return self.reply("")
        return self.reply(
            f'Unknown check ID "{check_id}". Ensure that the check ID is passed, '
            "not the check name.",
            404,
        )

    # /v1/health/service/:service -- docs: "List Service Instances for Service"
    async def health_service(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]

        def current() -> int:
            return self.service_index.get(name, 1)

        await self._block(request, current)
        passing = request.query.get("passing", None)
        only_passing = passing is not None and passing.lower() not in ("false", "0")
        entries = []
        for service in sorted(self.services.values(), key=lambda s: s["ID"]):
            if service["Service"] != name:
                continue
            check = service["check"]
            checks = [
                {"Node": self.node, "CheckID": "serfHealth", "Name": "Serf Health Status",
                 "Status": "passing", "ServiceID": "", "ServiceName": ""},
                {"Node": self.node, "CheckID": check["CheckID"], "Name": check["Name"],
                 "Status": check["Status"], "ServiceID": service["ID"],
                 "ServiceName": name},
            ]  # fmt: skip
            if only_passing and any(c["Status"] != "passing" for c in checks):
                continue
            entries.append(
                {
                    "Node": {"ID": "0", "Node": self.node, "Address": "127.0.0.1",
                             "Datacenter": "dc1"},
                    "Service": {k: service[k] for k in
                                ("ID", "Service", "Tags", "Address", "Port", "Meta")},
                    "Checks": checks,
                }
            )  # fmt: skip
        return self.reply(entries, index=current())

    # /v1/kv/:key -- docs: "Read Key", "Create/Update Key", "Delete Key"
    @staticmethod
    def _kv_json(entry: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in entry.items() if k != "Value"}
        out["Value"] = base64.b64encode(entry["Value"]).decode() if entry["Value"] else None
        return out

    async def kv_get(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        recurse = "recurse" in request.query

        def current() -> int:
            if recurse:
                return self.kv_index
            entry = self.kv.get(key)
            return entry["ModifyIndex"] if entry is not None else self.kv_index

        await self._block(request, current)
        if recurse:
            found = [self._kv_json(self.kv[k]) for k in sorted(self.kv) if k.startswith(key)]
        else:
            found = [self._kv_json(self.kv[key])] if key in self.kv else []
        if not found:
            return self.reply("", 404, index=current())
        return self.reply(found, index=current())

    async def kv_put(self, request: web.Request) -> web.Response:
        key, query = request.match_info["key"], request.query
        value = await request.read()
        entry = self.kv.get(key)
        if "cas" in query:
            cas = int(query["cas"])
            if (entry["ModifyIndex"] if entry else 0) != cas:
                return self.reply(False)
        session = entry.get("Session") if entry else None
        lock_index = entry["LockIndex"] if entry else 0
        if "acquire" in query:
            wanted = query["acquire"]
            if wanted not in self.sessions:
                return self.reply(f'invalid session "{wanted}"', 500)
            if session is not None and session != wanted:
                return self.reply(False)
            if self.lock_delays.get(key, float("-inf")) > self.now:
                return self.reply(False)  # kvs endpoint: "Rejecting lock ... due to lock-delay"
            if session != wanted:
                lock_index += 1
            session = wanted
        elif "release" in query:
            if entry is None or session != query["release"]:
                return self.reply(False)
            session = None
        self.kv_index = self._next()
        new = {
            "Key": key,
            "Flags": int(query.get("flags", entry["Flags"] if entry else 0)),
            "Value": value,
            "CreateIndex": entry["CreateIndex"] if entry else self.kv_index,
            "ModifyIndex": self.kv_index,
            "LockIndex": lock_index,
        }
        if session is not None:
            new["Session"] = session
        self.kv[key] = new
        self._wake()
        return self.reply(True)

    async def kv_delete(self, request: web.Request) -> web.Response:
        key, query = request.match_info["key"], request.query
        entry = self.kv.get(key)
        if "cas" in query and entry is not None and entry["ModifyIndex"] != int(query["cas"]):
            return self.reply(False)
        if entry is not None:
            del self.kv[key]
            self.kv_index = self._next()
            self._wake()
        return self.reply(True)

    # /v1/session/* -- docs: "Sessions HTTP API"
    def _session_json(self, session: dict[str, Any]) -> dict[str, Any]:
        return {
            "ID": session["ID"],
            "Name": session["Name"],
            "Node": self.node,
            "LockDelay": int(session["lock_delay"] * 1e9),  # nanoseconds, as documented
            "Behavior": session["Behavior"],
            "TTL": session["TTL"],
            "NodeChecks": ["serfHealth"],
            "ServiceChecks": None,
            "CreateIndex": session["CreateIndex"],
            "ModifyIndex": session["CreateIndex"],
        }

    async def session_create(self, request: web.Request) -> web.Response:
        body = lower_keys(json.loads(await request.read() or b"{}"))
        try:
            ttl = parse_duration(body.get("ttl") or "")
            lock_delay = parse_duration(body.get("lockdelay") or "15s")
        except ValueError as exc:
            return self.reply(f"Request decode failed: {exc}", 400)
        if ttl and not 10 <= ttl <= 86400:
            return self.reply(f"Invalid Session TTL '{ttl}', must be between [10s=24h0m0s]", 400)
        behavior = body.get("behavior") or "release"
        if behavior not in ("release", "delete"):
            return self.reply(f"Invalid Behavior setting '{behavior}'", 400)
        session_id = str(uuid.uuid4())
        self.sessions[session_id] = {
            "ID": session_id,
            "Name": body.get("name") or "",
            "Behavior": behavior,
            "TTL": body.get("ttl") or "",
            "ttl": ttl,
            "lock_delay": lock_delay,
            "renewed": self.now,
            "CreateIndex": self._next(),
        }
        return self.reply({"ID": session_id})

    async def session_renew(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return self.reply(f"Session id '{request.match_info['id']}' not found", 404)
        session["renewed"] = self.now
        return self.reply([self._session_json(session)])

    async def session_destroy(self, request: web.Request) -> web.Response:
        if request.match_info["id"] in self.sessions:
            self._invalidate(request.match_info["id"])
        return self.reply(True)

    async def session_info(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        found = [self._session_json(session)] if session is not None else []
        return self.reply(found, index=self.index)


@asynccontextmanager
async def serve_fake_consul() -> AsyncIterator[FakeConsul]:
    """Run a :class:`FakeConsul` on 127.0.0.1 for the duration of the block."""
    fake = FakeConsul()
    runner = web.AppRunner(fake.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        fake.closing = True  # blocked queries answer now, or shutdown waits for them
        fake._wake()
        await runner.cleanup()


@pytest.fixture
async def consul() -> AsyncIterator[FakeConsul]:
    async with serve_fake_consul() as fake:
        yield fake


@pytest.fixture
async def registry(consul: FakeConsul) -> AsyncIterator[ConsulRegistry]:
    async with ConsulRegistry(consul.url, token="secret-token") as registry:
        yield registry


# -- what the adapter sends ----------------------------------------------------------------


async def test_registration_sends_the_documented_body(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    await registry.register_service(
        "billing", node="node-a", address="10.0.0.5", port=8080, tags=["v1"],
        meta={"zone": "a"}, ttl=10, deregister_after=90,
    )  # fmt: skip
    [sent] = consul.sent("PUT", "/v1/agent/service/register")
    assert sent.token == "secret-token"
    body = lower_keys(sent.json())
    assert body["name"] == "billing"
    assert body["id"] == "billing:node-a:8080"
    assert (body["address"], body["port"], body["tags"]) == ("10.0.0.5", 8080, ["v1"])
    assert body["meta"] == {"zone": "a", "enotime_node": "node-a"}
    assert body["check"] == {
        "CheckID": "service:billing:node-a:8080",
        "Name": "billing TTL",
        "TTL": "10000ms",
        "Status": "passing",
        "DeregisterCriticalServiceAfter": "90000ms",
    }


async def test_discovery_asks_for_passing_instances_and_reads_node_from_meta(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    await registry.register_service("billing", node="node-a", port=1, keepalive=False)
    [instance] = await registry.discover("billing")
    [sent] = consul.sent("GET", "/v1/health/service/billing")
    assert sent.query == {"passing": "1"}
    assert instance.node == "node-a"
    assert instance.meta == {}
    assert instance.address == "127.0.0.1"  # no service address: the agent node's


async def test_keepalive_passes_the_ttl_check(consul: FakeConsul) -> None:
    async with ConsulRegistry(consul.url, keepalive_interval=0.01) as registry:
        registration = await registry.register_service("billing", node="node-a")
        await registration.wait_heartbeats(2)
        passes = consul.sent("PUT", "/v1/agent/check/pass/service:billing:node-a:0")
        assert len(passes) >= 2


async def test_keepalive_registers_again_when_the_agent_forgot_the_service(
    consul: FakeConsul,
) -> None:
    async with ConsulRegistry(consul.url, keepalive_interval=0.01) as registry:
        registration = await registry.register_service("billing", node="node-a")
        consul.forget_services()
        beats = registration.heartbeats
        await registration.wait_heartbeats(beats + 1)
        assert len(consul.sent("PUT", "/v1/agent/service/register")) == 2
        assert [i.instance_id for i in await registry.discover("billing")] == ["billing:node-a:0"]


async def test_close_deregisters_and_destroys_sessions(consul: FakeConsul) -> None:
    registry = ConsulRegistry(consul.url)
    await registry.register_service("billing", node="node-a")
    session = await registry.create_session()
    await registry.aclose()
    assert [r.path for r in consul.sent("PUT", "/v1/agent/service/deregister/")] == [
        "/v1/agent/service/deregister/billing:node-a:0"
    ]
    assert [r.path for r in consul.sent("PUT", "/v1/session/destroy/")] == [
        f"/v1/session/destroy/{session.id}"
    ]
    assert consul.services == {}
    assert consul.sessions == {}


async def test_session_create_sends_ttl_lock_delay_and_behavior(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    await registry.create_session(ttl=20, lock_delay=0, behavior="delete")  # type: ignore[arg-type]
    [sent] = consul.sent("PUT", "/v1/session/create")
    body = lower_keys(sent.json())
    assert parse_duration(body["ttl"]) == 20
    assert parse_duration(body["lockdelay"]) == 0
    assert body["behavior"] == "delete"


async def test_kv_writes_use_the_documented_query_parameters(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    await registry.kv_put("config/a", b"1", cas=0)
    session = await registry.create_session(lock_delay=0)
    assert await registry.kv_acquire("config/lock", b"me", session)
    assert await registry.kv_release("config/lock", session)
    queries = [r.query for r in consul.sent("PUT", "/v1/kv/")]
    assert queries == [{"cas": "0"}, {"acquire": session.id}, {"release": session.id}]
    assert consul.kv["config/a"]["Value"] == b"1"


async def test_blocking_queries_send_index_and_wait(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    await registry.kv_put("config/a", b"1")
    index, _ = await registry.kv_watch("config/a")
    watch = asyncio.create_task(registry.kv_watch("config/a", index=index, wait=30))
    await registry.kv_put("config/a", b"2")
    new_index, entry = await asyncio.wait_for(watch, 5)
    assert new_index > index
    assert entry is not None
    assert entry.value == b"2"
    blocking = [r.query for r in consul.sent("GET", "/v1/kv/config/a") if "index" in r.query]
    assert blocking == [{"index": str(index), "wait": "30000ms"}]


# -- what the adapter makes of the answers --------------------------------------------------


async def test_acquire_with_a_dead_session_is_session_invalidated(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    session = await registry.create_session(keepalive=False)
    del consul.sessions[session.id]
    with pytest.raises(SessionInvalidated) as caught:
        await registry.kv_acquire("lock", b"x", session)
    assert caught.value.session_id == session.id
    with pytest.raises(SessionInvalidated):
        await session.renew()
    assert session.ended


async def test_server_errors_and_acl_denials_are_unavailable(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    consul.fail[("GET", "/v1/kv/a")] = (500, "rpc error: No cluster leader")
    with pytest.raises(RegistryUnavailable, match="No cluster leader"):
        await registry.kv_get("a")
    consul.fail[("GET", "/v1/kv/a")] = (403, "Permission denied")
    with pytest.raises(RegistryUnavailable, match="permission denied"):
        await registry.kv_get("a")


async def test_bad_request_is_invalid_argument(
    consul: FakeConsul, registry: ConsulRegistry
) -> None:
    consul.fail[("PUT", "/v1/session/create")] = (400, "Invalid Session TTL")
    with pytest.raises(InvalidArgument, match="Invalid Session TTL"):
        await registry.create_session()


async def test_unreachable_agent_is_unavailable() -> None:
    async with serve_fake_consul() as fake:
        url = fake.url  # a loopback port that just closed: nothing listens there
    async with ConsulRegistry(url, request_timeout=5) as registry:
        with pytest.raises(RegistryUnavailable, match="unreachable"):
            await registry.discover("billing")


async def test_the_environment_does_not_override_the_address(
    consul: FakeConsul, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-consul2's own Consul() would send this to 192.0.2.1 (TEST-NET, never reached).
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "192.0.2.1:8500")
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "from-environment")
    async with ConsulRegistry(consul.url) as registry:
        await registry.kv_put("a", b"1")
    assert [r.token for r in consul.requests] == [None]


def test_python_consul2_aio_warns_on_every_collected_client() -> None:
    """Why the adapter brings its own transport: ``consul.aio`` warns even when unused.

    A canary: if a release of python-consul2 fixes this, this test fails and
    docs/registry.md should be revisited.
    """
    import consul.aio  # type: ignore[import-untyped]

    client = consul.aio.HTTPClient(loop=asyncio.new_event_loop())
    client._loop.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
