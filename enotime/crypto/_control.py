"""A node's crypto control socket: how ``enotime crypto unseal`` reaches a running node.

Unseal progress must live in the memory of the process that will use the keys;
writing submitted shares to disk would defeat the threshold. So a node that
hosts an :class:`~enotime.crypto.EmbeddedCryptoEngine` serves these requests
on a control socket (:mod:`enotime._control_socket`: one JSON object per line,
mode 0600, the peer's uid checked on Linux), and the CLI (one process per
share holder) talks to it::

    -> {"op": "status"} | {"op": "seal"} | {"op": "unseal", "share": "..."}
       | {"op": "init", "shares": 5, "threshold": 3}
    <- {"ok": true, ...} | {"ok": false, "error": "InvalidShare", "message": "..."}

The socket lives in the keyring directory (mode 0700).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from enotime._control_socket import ControlClient as _SocketClient
from enotime._control_socket import ControlError, open_control_socket
from enotime.crypto import _errors
from enotime.crypto._embedded import EmbeddedCryptoEngine
from enotime.crypto._errors import CryptoError, InvalidRequest

__all__ = ["CONTROL_SOCKET", "ControlClient", "open_control_server"]

logger = logging.getLogger("enotime.crypto")

CONTROL_SOCKET = "control.sock"
"""File name of the socket inside the keyring directory."""


async def _dispatch(engine: EmbeddedCryptoEngine, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "status":
        return {"status": asdict(await engine.status())}
    if op == "seal":
        await engine.seal()
        return {"status": asdict(await engine.status())}
    if op == "unseal":
        share = request.get("share")
        if not isinstance(share, str):
            raise InvalidRequest("unseal needs a 'share' string")
        return {"progress": asdict(await engine.submit_unseal_share(share))}
    if op == "init":
        shares, threshold = request.get("shares"), request.get("threshold")
        if not isinstance(shares, int) or not isinstance(threshold, int):
            raise InvalidRequest("init needs integer 'shares' and 'threshold'")
        return {"shares": await engine.initialize(shares, threshold)}
    raise InvalidRequest(f"unknown op {op!r}")


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

    async def dispatch(request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await _dispatch(engine, request)
        except CryptoError as exc:  # travels by name; the client raises it again
            raise ControlError(type(exc).__name__, str(exc)) from exc

    async with open_control_socket(socket_path, dispatch) as server:
        logger.info("crypto control socket listening at %s", socket_path)
        yield server


class ControlClient:
    """Blocking client of the control socket, for the CLI (a separate process).

    A refusal is raised as the engine's own error (``InvalidShare``,
    ``Sealed``...); failing to reach the node as :class:`CryptoError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self._client = _SocketClient(Path(path), timeout=timeout)

    @property
    def path(self) -> Path:
        return self._client.path

    def is_live(self) -> bool:
        """Whether a process accepts connections on the socket."""
        return self._client.is_live()

    def request(self, **request: Any) -> dict[str, Any]:
        """Send one request; return the reply or raise the engine's error."""
        try:
            return self._client.request(**request)
        except ControlError as exc:
            error = getattr(_errors, exc.error, None)
            if not (isinstance(error, type) and issubclass(error, CryptoError)):
                error = CryptoError
            raise error(str(exc)) from None
