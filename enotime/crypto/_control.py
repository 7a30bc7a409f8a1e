"""A node's crypto control socket: how ``enotime crypto unseal`` reaches a running node.

Unseal progress must live in the memory of the process that will use the keys;
writing submitted shares to disk would defeat the threshold. So a node that
hosts an :class:`~enotime.crypto.EmbeddedCryptoEngine` serves this small
Unix-socket protocol, and the CLI (one process per share holder) talks to it.

Protocol: one JSON object per line, one request per connection::

    -> {"op": "status"} | {"op": "seal"} | {"op": "unseal", "share": "..."}
       | {"op": "init", "shares": 5, "threshold": 3}
    <- {"ok": true, ...} | {"ok": false, "error": "InvalidShare", "message": "..."}

Access control is the file system: the socket lives in the keyring directory
(mode 0700) with mode 0600, and on Linux the peer's uid must be ours or root.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from enotime.crypto import _errors
from enotime.crypto._embedded import EmbeddedCryptoEngine
from enotime.crypto._errors import CryptoError, InvalidRequest

__all__ = ["CONTROL_SOCKET", "ControlClient", "open_control_server"]

logger = logging.getLogger("enotime.crypto")

CONTROL_SOCKET = "control.sock"
"""File name of the socket inside the keyring directory."""

_LIMIT = 64 * 1024


def _peer_allowed(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return True  # no peer credentials on this platform: file modes still apply
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (0, os.getuid())


async def _dispatch(engine: EmbeddedCryptoEngine, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "status":
        return {"ok": True, "status": asdict(await engine.status())}
    if op == "seal":
        await engine.seal()
        return {"ok": True, "status": asdict(await engine.status())}
    if op == "unseal":
        share = request.get("share")
        if not isinstance(share, str):
            raise InvalidRequest("unseal needs a 'share' string")
        return {"ok": True, "progress": asdict(await engine.submit_unseal_share(share))}
    if op == "init":
        shares, threshold = request.get("shares"), request.get("threshold")
        if not isinstance(shares, int) or not isinstance(threshold, int):
            raise InvalidRequest("init needs integer 'shares' and 'threshold'")
        return {"ok": True, "shares": await engine.initialize(shares, threshold)}
    raise InvalidRequest(f"unknown op {op!r}")


def _prepare(socket_path: Path) -> None:
    socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if socket_path.exists():
        if ControlClient(socket_path, timeout=5).is_live():
            raise RuntimeError(f"another node already serves {socket_path}")
        socket_path.unlink()  # stale, left by a process that died


@contextlib.asynccontextmanager
async def open_control_server(
    engine: EmbeddedCryptoEngine, path: str | os.PathLike[str] | None = None
) -> AsyncIterator[asyncio.Server]:
    """Serve the control protocol for ``engine`` while the block runs.

    Args:
        engine: The node's embedded engine.
        path: The socket path; default ``<keyring dir>/control.sock``.

    Raises:
        RuntimeError: Another live process already serves this socket.
    """
    socket_path = Path(path) if path is not None else engine.directory / CONTROL_SOCKET
    await asyncio.to_thread(_prepare, socket_path)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not _peer_allowed(writer):
                logger.warning("crypto control: refused a peer with another uid")
                return
            line = await reader.readline()
            if not line.strip():
                return  # a liveness probe, or a client that gave up
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise InvalidRequest("a request is a JSON object")
                reply = await _dispatch(engine, request)
            except CryptoError as exc:
                reply = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
            except ValueError as exc:  # bad JSON
                reply = {"ok": False, "error": "InvalidRequest", "message": str(exc)}
            writer.write(json.dumps(reply).encode() + b"\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_unix_server(handle, path=socket_path, limit=_LIMIT)
    await asyncio.to_thread(os.chmod, socket_path, 0o600)
    logger.info("crypto control socket listening at %s", socket_path)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.to_thread(socket_path.unlink, missing_ok=True)


class ControlClient:
    """Blocking client of the control socket, for the CLI (a separate process)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def is_live(self) -> bool:
        """Whether a process accepts connections on the socket."""
        if not self.path.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except OSError:
                return False
        return True

    def request(self, **request: Any) -> dict[str, Any]:
        """Send one request; return the reply or raise the engine's error."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(str(self.path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as stream:
                line = stream.readline(_LIMIT)
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            error = getattr(_errors, str(reply.get("error")), None)
            if not (isinstance(error, type) and issubclass(error, CryptoError)):
                error = CryptoError
            raise error(str(reply.get("message", "the node refused the request")))
        return reply
