"""The production registry: HashiCorp Consul through python-consul2.

python-consul2 (import name ``consul``) gives us Consul's endpoints -- paths,
query parameters, JSON bodies, answer decoding -- but its own asyncio
transport (``consul.aio``) is not fit for us, so this module keeps the
library's endpoint layer and replaces the transport (docs/registry.md says why
in full):

- ``consul.aio.HTTPClient.__del__`` warns ``ResourceWarning`` unconditionally,
  even after a clean close, which a warnings-as-errors test run turns into
  failures; its ``close()`` raises ``AttributeError`` before the first request;
- it opens a new ``aiohttp.ClientSession`` and TCP connection per request;
- ``consul.base.Consul.__init__`` lets ``CONSUL_HTTP_ADDR`` and
  ``CONSUL_HTTP_TOKEN`` override the address and token passed to it, and
  emits two ``DeprecationWarning``\\ s on every construction.

So :class:`_Endpoints` builds only the endpoint groups we use on top of
:class:`_Transport`, one pooled ``aiohttp`` session that this registry owns.
The library is untyped (no stubs, no ``py.typed``): it stays inside this
module, and everything leaving it is converted to the port's types.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from enotime.registry._errors import (
    InvalidArgument,
    NotRegistered,
    RegistryError,
    RegistryUnavailable,
    SessionInvalidated,
)
from enotime.registry._port import (
    NODE_META,
    AbstractRegistry,
    KVEntry,
    ServiceInstance,
    ServiceSpec,
    SessionBehavior,
)

try:
    import aiohttp
    import consul.base  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the Consul registry needs python-consul2 and aiohttp: pip install "enotime[consul]"'
    ) from exc

__all__ = ["ConsulRegistry"]

logger = logging.getLogger("enotime.registry")

_T = TypeVar("_T")


def _duration(seconds: float) -> str:
    """A Go duration Consul parses: integral milliseconds (``"1500ms"``)."""
    return f"{round(seconds * 1000)}ms"


class _Transport(consul.base.HTTPClient):  # type: ignore[misc]
    """python-consul2's HTTP client interface over one pooled aiohttp session."""

    def __init__(self, base_uri: str, session: aiohttp.ClientSession) -> None:
        super().__init__()
        self.base_uri = base_uri
        self._session = session

    async def _request(
        self, callback: Any, method: str, path: str, params: Any, data: Any, headers: Any
    ) -> Any:
        uri = self.uri(path, params)
        async with self._session.request(method, uri, data=data, headers=headers) as response:
            content = await response.read()
            body = content.decode("utf-8", "replace")
            return callback(consul.base.Response(response.status, response.headers, body, content))

    def get(self, callback: Any, path: str, params: Any = None, headers: Any = None) -> Any:
        return self._request(callback, "GET", path, params, None, headers)

    def put(
        self, callback: Any, path: str, params: Any = None, data: Any = "", headers: Any = None
    ) -> Any:
        return self._request(callback, "PUT", path, params, data, headers)

    def delete(
        self, callback: Any, path: str, params: Any = None, data: Any = "", headers: Any = None
    ) -> Any:
        return self._request(callback, "DELETE", path, params, data or None, headers)

    def post(
        self, callback: Any, path: str, params: Any = None, data: Any = "", headers: Any = None
    ) -> Any:
        return self._request(callback, "POST", path, params, data, headers)


class _Endpoints:
    """The endpoint groups of ``consul.base.Consul`` we use, bound to our transport.

    The groups read only ``http``, ``token``, ``dc`` and ``consistency`` from
    the object they are given, so this stands in for ``consul.base.Consul``
    without its constructor (see the module docstring).
    """

    def __init__(self, transport: _Transport, token: str | None) -> None:
        self.http = transport
        self.token = token
        self.dc: str | None = None
        self.consistency = "default"
        self.agent: Any = consul.base.Consul.Agent(self)
        self.health: Any = consul.base.Consul.Health(self)
        self.kv: Any = consul.base.Consul.KV(self)
        self.session: Any = consul.base.Consul.Session(self)


class ConsulRegistry(AbstractRegistry):
    """A registry on a Consul agent's HTTP API (``/v1/...``).

    Service instances are registered with the local agent
    (``/v1/agent/service/register``) with a TTL check ``service:<id>``,
    discovered through ``/v1/health/service/:name``, and carry their ENoTime
    node in the metadata key ``enotime_node``. KV, sessions and blocking
    queries are Consul's own.

    Args:
        address: The agent's HTTP address, ``http://127.0.0.1:8500`` by
            default. Unlike python-consul2, ``CONSUL_HTTP_ADDR`` is *not*
            read here: pass it explicitly if you want it.
        token: An ACL token sent as ``X-Consul-Token``, or ``None``.
        request_timeout: Seconds for one request (blocking queries get their
            ``wait`` on top).
        keepalive_interval: Seconds between keep-alive beats (default: a
            fraction of each TTL).
    """

    def __init__(
        self,
        address: str = "http://127.0.0.1:8500",
        *,
        token: str | None = None,
        request_timeout: float = 10.0,
        keepalive_interval: float | None = None,
    ) -> None:
        super().__init__(keepalive_interval=keepalive_interval)
        if "://" not in address:
            address = "http://" + address
        parts = urllib.parse.urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"invalid Consul address {address!r}")
        self.address = f"{parts.scheme}://{parts.netloc}"
        self._token = token
        self._request_timeout = request_timeout
        self._http: aiohttp.ClientSession | None = None
        self._api: _Endpoints | None = None

    @property
    def _consul(self) -> Any:
        # The session binds to the running loop: made on first use, inside it.
        if self._api is None:
            self._http = aiohttp.ClientSession()
            self._api = _Endpoints(_Transport(self.address, self._http), self._token)
        return self._api

    async def _call(self, what: str, request: Awaitable[_T], wait: float | None = None) -> _T:
        """Await one request, mapping transport and Consul failures to the port's errors."""
        timeout = self._request_timeout + (wait * 1.1 if wait else 0.0)
        try:
            async with asyncio.timeout(timeout):
                return await request
        except RegistryError:
            raise
        except consul.base.ACLPermissionDenied as exc:
            raise RegistryUnavailable(f"Consul refused {what}: permission denied") from exc
        except consul.base.BadRequest as exc:
            raise InvalidArgument(f"Consul refused {what}: {exc}") from exc
        except consul.base.ConsulException as exc:
            if "invalid session" in str(exc).lower():
                raise SessionInvalidated(_session_in(str(exc))) from exc
            raise RegistryUnavailable(f"Consul failed {what}: {exc}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError) as exc:
            raise RegistryUnavailable(f"Consul unreachable during {what}: {exc!r}") from exc

    # -- services -----------------------------------------------------------------------

    async def _put_service(self, spec: ServiceSpec) -> None:
        check: dict[str, str] = {
            "CheckID": f"service:{spec.instance_id}",
            "Name": f"{spec.name} TTL",
            "TTL": _duration(spec.ttl),
            "Status": "passing",
        }
        if spec.deregister_after is not None:
            check["DeregisterCriticalServiceAfter"] = _duration(spec.deregister_after)
        meta = {**spec.meta, NODE_META: spec.node}
        ok = await self._call(
            f"registering {spec.instance_id!r}",
            self._consul.agent.service.register(
                spec.name,
                service_id=spec.instance_id,
                address=spec.address or None,
                port=spec.port or None,
                tags=list(spec.tags) or None,
                check=check,
                meta=meta,
            ),
        )
        if not ok:
            raise RegistryUnavailable(f"Consul did not register {spec.instance_id!r}")

    async def _pass_check(self, instance_id: str) -> None:
        try:
            ok = await self._call(
                f"passing the check of {instance_id!r}",
                self._consul.agent.check.ttl_pass(f"service:{instance_id}"),
            )
        except RegistryUnavailable as exc:
            # Older agents answer 500 "CheckID ... does not have associated TTL".
            if "check" in str(exc).lower() and "ttl" in str(exc).lower():
                raise NotRegistered(f"instance {instance_id!r} is not registered") from exc
            raise
        if not ok:  # 404 "Unknown check ID": python-consul2 answers False
            raise NotRegistered(f"instance {instance_id!r} is not registered")

    async def _remove_service(self, instance_id: str) -> None:
        await self._call(
            f"deregistering {instance_id!r}",
            self._consul.agent.service.deregister(instance_id),
        )

    async def _health(
        self, service: str, *, passing: bool, index: int, wait: float | None
    ) -> tuple[int, list[ServiceInstance]]:
        blocking = bool(wait) and index > 0
        new_index, entries = await self._call(
            f"discovering {service!r}",
            self._consul.health.service(
                service,
                index=index if blocking else None,
                wait=_duration(wait) if blocking and wait else None,
                passing=passing or None,
            ),
            wait=wait if blocking else None,
        )
        instances = [_instance(entry) for entry in entries or []]
        return int(new_index), sorted(instances, key=lambda i: i.instance_id)

    # -- sessions -----------------------------------------------------------------------

    async def _create_session(
        self, *, name: str, ttl: float, lock_delay: float, behavior: SessionBehavior
    ) -> str:
        session_id = await self._call(
            "creating a session",
            # python-consul2 sends ``lock_delay`` and ``ttl`` as "<n>s".
            self._consul.session.create(
                name=name, ttl=ttl, lock_delay=lock_delay, behavior=behavior.value
            ),
        )
        return str(session_id)

    async def _renew_session(self, session_id: str) -> None:
        try:
            await self._call(
                f"renewing session {session_id!r}", self._consul.session.renew(session_id)
            )
        except RegistryUnavailable as exc:
            if isinstance(exc.__cause__, consul.base.NotFound):
                raise SessionInvalidated(session_id) from exc
            raise

    async def _destroy_session(self, session_id: str) -> None:
        await self._call(
            f"destroying session {session_id!r}", self._consul.session.destroy(session_id)
        )

    # -- key/value ----------------------------------------------------------------------

    async def _kv_get(
        self, key: str, *, index: int, wait: float | None
    ) -> tuple[int, KVEntry | None]:
        blocking = bool(wait) and index > 0
        new_index, item = await self._call(
            f"reading {key!r}",
            self._consul.kv.get(
                key,
                index=index if blocking else None,
                wait=_duration(wait) if blocking and wait else None,
            ),
            wait=wait if blocking else None,
        )
        return int(new_index), (_entry(item) if item is not None else None)

    async def _kv_list(self, prefix: str) -> list[KVEntry]:
        _, items = await self._call(
            f"listing {prefix!r}", self._consul.kv.get(prefix, recurse=True)
        )
        return sorted((_entry(item) for item in items or []), key=lambda e: e.key)

    async def _kv_put(
        self,
        key: str,
        value: bytes,
        *,
        cas: int | None = None,
        acquire: str | None = None,
        release: str | None = None,
    ) -> bool:
        ok = await self._call(
            f"writing {key!r}",
            self._consul.kv.put(key, value, cas=cas, acquire=acquire, release=release),
        )
        return ok is True

    async def _kv_delete(self, key: str, *, cas: int | None = None) -> bool:
        ok = await self._call(f"deleting {key!r}", self._consul.kv.delete(key, cas=cas))
        return ok is True

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None
        self._api = None


def _session_in(message: str) -> str:
    # Consul: `invalid session "<uuid>"`.
    start, end = message.find('"'), message.rfind('"')
    return message[start + 1 : end] if 0 <= start < end else "?"


def _instance(entry: Mapping[str, Any]) -> ServiceInstance:
    service = entry["Service"]
    node = entry.get("Node") or {}
    meta = dict(service.get("Meta") or {})
    enotime_node = meta.pop(NODE_META, None) or node.get("Node", "")
    checks = entry.get("Checks") or []
    return ServiceInstance(
        service=service["Service"],
        instance_id=service["ID"],
        node=enotime_node,
        address=service.get("Address") or node.get("Address", ""),
        port=int(service.get("Port") or 0),
        tags=tuple(service.get("Tags") or ()),
        meta=meta,
        healthy=all(check.get("Status") == "passing" for check in checks),
    )


def _entry(item: Mapping[str, Any]) -> KVEntry:
    value = item.get("Value")
    return KVEntry(
        key=item["Key"],
        value=bytes(value) if value is not None else b"",
        modify_index=int(item["ModifyIndex"]),
        create_index=int(item["CreateIndex"]),
        lock_index=int(item.get("LockIndex") or 0),
        session=item.get("Session") or None,
    )
