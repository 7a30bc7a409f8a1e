"""Local control sockets: how command-line tools reach a running node of the same user.

A node serves a small protocol on a Unix socket; a tool in another process
connects, sends one request and reads one reply. ``enotime status`` uses it
to inspect a node (:mod:`enotime._inspect`), ``enotime crypto`` to unseal one
(:mod:`enotime.crypto._control`).

Protocol: one JSON object per line, one request per connection::

    -> {"op": "...", ...}
    <- {"ok": true, ...} | {"ok": false, "error": "NameOfError", "message": "..."}

A connection that sends an empty line is a liveness probe.

Access control is the file system, as for ``ssh-agent``: sockets live in a
per-user runtime directory of mode 0700 (:func:`runtime_directory`), each
with mode 0600, and on Linux the peer's uid must be ours or root.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote

__all__ = [
    "RUNTIME_DIR_ENV",
    "ControlClient",
    "ControlError",
    "SocketInUse",
    "node_sockets",
    "open_control_socket",
    "parse_socket_path",
    "private_directory",
    "remove_if_stale",
    "runtime_directory",
    "socket_path",
]

log = logging.getLogger("enotime.control")

RUNTIME_DIR_ENV: Final = "ENOTIME_RUNTIME_DIR"
"""Environment variable naming the runtime directory, overriding the default."""

SUFFIX: Final = ".sock"

REQUEST_LIMIT: Final = 64 * 1024
"""Longest request line a server reads (bytes)."""

REPLY_LIMIT: Final = 256 * 1024 * 1024
"""Longest reply line a client reads (bytes): a snapshot of a big node is large."""

CLOSE_TIMEOUT: Final = 1.0
"""Seconds open connections get to finish when the server closes."""

_MAX_PATH: Final = 107  # sun_path holds 108 bytes on Linux, with the final NUL

Dispatch = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Turns one request into the reply's fields (``ok`` is added); raise ControlError to refuse."""


class ControlError(Exception):
    """A request the server refused, or a reply the client could not get.

    ``error`` names the kind, as it travels in the reply (``"UnknownOp"``,
    ``"NotRunning"``, ``"Stale"``, ``"Timeout"``...).
    """

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


class SocketInUse(RuntimeError):
    """Another live process already serves the socket path (not a stale file)."""


def runtime_directory() -> Path:
    """The per-user directory that holds the control sockets of this user's nodes.

    ``$ENOTIME_RUNTIME_DIR`` if set, else ``$XDG_RUNTIME_DIR/enotime``, else
    ``~/.enotime/run``. It may not exist yet.
    """
    override = os.environ.get(RUNTIME_DIR_ENV)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "enotime"
    return Path.home() / ".enotime" / "run"


def private_directory(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed; refuse one that another user owns.

    An existing directory of ours that others may enter is made private
    (0700): the sockets in it are the only access control.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to uid {info.st_uid}, not to us ({os.getuid()})")
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return path


def socket_path(directory: Path, name: str, pid: int | None = None) -> Path:
    """The socket of node ``name`` run by process ``pid`` (default: this one).

    ``<name>@<pid>.sock``, the name quoted (``/``, ``%`` and ``@`` escaped):
    the pid keeps two nodes of the same name apart -- every ``enotime run``
    without ``--name`` is called ``enotime``. Raises ``ValueError`` if the
    path is too long for a Unix socket.
    """
    if not name:
        raise ValueError("a node name cannot be empty")
    pid = os.getpid() if pid is None else pid
    path = directory / f"{quote(name, safe='')}@{pid}{SUFFIX}"
    if len(os.fsencode(path)) > _MAX_PATH:
        raise ValueError(
            f"control socket path {str(path)!r} is longer than {_MAX_PATH} bytes: "
            f"set {RUNTIME_DIR_ENV} to a shorter directory or use a shorter node name"
        )
    return path


def parse_socket_path(path: Path) -> tuple[str, int] | None:
    """``(node name, pid)`` of a socket :func:`socket_path` made, or None for another file."""
    stem, at, pid = path.name.removesuffix(SUFFIX).rpartition("@")
    if not path.name.endswith(SUFFIX) or not at or not stem or not pid.isdigit():
        return None
    return unquote(stem), int(pid)


def node_sockets(directory: Path) -> list[tuple[str, int, Path]]:
    """``(node name, pid, path)`` of every node socket in ``directory``, by name then pid."""
    try:
        paths = list(directory.iterdir())
    except FileNotFoundError:
        return []
    found = []
    for path in paths:
        parsed = parse_socket_path(path)
        if parsed is not None:
            found.append((*parsed, path))
    return sorted(found)


def remove_if_stale(path: Path) -> bool:
    """Remove a socket file nobody serves; True if it was removed.

    Stale means: a socket that refuses connections, whose file is still the
    same one after the check (a new node may have taken its place meanwhile).
    """
    try:
        before = path.lstat()
        if not stat.S_ISSOCK(before.st_mode) or ControlClient(path, timeout=1).is_live():
            return False
        if path.lstat().st_ino != before.st_ino:
            return False
        path.unlink()
    except OSError:
        return False
    return True


def _peer_allowed(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return True  # no peer credentials on this platform: file modes still apply
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (0, os.getuid())


def _refusal(error: str, message: str) -> str:
    return json.dumps({"ok": False, "error": error, "message": message})


def _prepare(path: Path) -> None:
    private_directory(path.parent)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketInUse(f"{path} exists and is not a socket; remove it by hand")
    if ControlClient(path, timeout=5).is_live():
        raise SocketInUse(f"another process already serves {path}")
    path.unlink()  # stale: left by a process that died without cleaning up


@contextlib.asynccontextmanager
async def open_control_socket(path: Path, dispatch: Dispatch) -> AsyncIterator[asyncio.Server]:
    """Serve the control protocol on the Unix socket ``path`` while the block runs.

    The socket's directory is created private (0700) and the socket gets mode
    0600; a stale socket file left by a dead process is replaced; the file is
    removed when the block ends.

    Raises:
        SocketInUse: Another live process serves ``path`` (or it is not a socket).
    """
    await asyncio.to_thread(_prepare, path)
    # Open connections, closed with the server: before Python 3.12 closing a server
    # leaves the connections it accepted open.
    connections: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections[writer] = task
        try:
            if not _peer_allowed(writer):
                log.warning("control socket %s: refused a peer with another uid", path)
                return
            line = await reader.readline()
            if not line.strip():
                return  # a liveness probe, or a client that gave up
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ControlError("InvalidRequest", "a request is a JSON object")
                data = json.dumps({"ok": True, **await dispatch(request)}, default=str)
            except ControlError as exc:
                data = _refusal(exc.error, str(exc))
            except ValueError as exc:  # bad JSON
                data = _refusal("InvalidRequest", str(exc))
            except Exception as exc:  # a bug: answer it rather than drop the connection
                log.exception("control socket %s: the request failed", path)
                data = _refusal(type(exc).__name__, str(exc))
            writer.write(data.encode() + b"\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            connections.pop(writer, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_unix_server(handle, path=path, limit=REQUEST_LIMIT)
    try:
        # The directory is 0700 already; the mode is a second fence.
        await asyncio.to_thread(os.chmod, path, 0o600)
        yield server
    finally:
        # A connection accepted in the current loop turn attaches to the server in the
        # next one; closing first would leak its socket (Python 3.11's asyncio).
        await asyncio.sleep(0)
        server.close()
        for writer in list(connections):
            writer.close()
        if connections:  # a client that does not read its reply cannot hold the node up
            _, stuck = await asyncio.wait(connections.values(), timeout=CLOSE_TIMEOUT)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)


class ControlClient:
    """Blocking client of a control socket, for command-line tools (another process)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def is_live(self) -> bool:
        """Whether a process accepts connections on the socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except OSError:
                return False
        return True

    def request(self, **request: Any) -> dict[str, Any]:
        """Send one request and return the reply.

        Raises:
            ControlError: ``NotRunning`` (no socket), ``Stale`` (a socket
                nobody serves: its process died), ``Timeout``, ``Unreachable``
                (any other connection error), or the server's refusal.
        """
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except FileNotFoundError:
                raise ControlError("NotRunning", f"no control socket at {self.path}") from None
            except ConnectionRefusedError:
                raise ControlError(
                    "Stale", f"nothing serves {self.path}: its process is gone"
                ) from None
            except OSError as exc:
                raise ControlError("Unreachable", f"cannot connect to {self.path}: {exc}") from exc
            try:
                sock.sendall(json.dumps(request).encode() + b"\n")
                with sock.makefile("rb") as stream:
                    line = stream.readline(REPLY_LIMIT)
            except TimeoutError:
                raise ControlError(
                    "Timeout", f"no answer on {self.path} within {self.timeout:g} s"
                ) from None
            except OSError as exc:
                raise ControlError("Unreachable", f"{self.path}: {exc}") from exc
        if not line.endswith(b"\n"):
            raise ControlError("Unreachable", f"{self.path} closed the connection mid-reply")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise ControlError("InvalidReply", f"{self.path} answered {line[:80]!r}")
        if not reply.get("ok"):
            raise ControlError(
                str(reply.get("error", "Refused")),
                str(reply.get("message", "the node refused the request")),
            )
        return reply
