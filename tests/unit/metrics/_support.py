"""What the metrics tests share: a raw HTTP GET and a parser of the text format."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 10.0
"""Seconds any network wait in these tests may take."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


async def http_request(
    host: str, port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    """One HTTP/1.1 request over a fresh connection; the server closes it after answering."""
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
            lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), parsed, body)


def samples(text: str | bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by ``(name, labels)``."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples ``registry`` exposes now."""
    return samples(generate_latest(registry))


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    """The key of one sample in :func:`samples`."""
    return name, frozenset(labels.items())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_prometheus(
    config: Path, workdir: Path, ready_within: float = 30.0
) -> AsyncIterator[str]:
    """A real Prometheus on loopback running ``config``, stopped by its PID; yields host:port."""
    binary = shutil.which("prometheus")
    assert binary is not None
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(ready_within):
                while True:
                    assert process.returncode is None, log_path.read_text()
                    with contextlib.suppress(OSError):
                        if (await http_request("127.0.0.1", port, "/-/ready")).status == 200:
                            break
                    await asyncio.sleep(0.1)  # polls readiness -- noqa: sleep-ok
            yield f"127.0.0.1:{port}"
        finally:
            if process.returncode is None:
                process.terminate()  # our own child, by its PID
                try:
                    async with asyncio.timeout(10):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()
