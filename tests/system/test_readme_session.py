"""The README's main command and its curl session, run as written.

The demo starts as the README starts it (``python -m enotime run
supervisors.demo:system``, in its own process, on a free port instead of
8000); the session block is cut from README.md and run by bash in two parts:
up to the line where the reader pastes the token from the console, and from
there on, with the token read from the demo's console output.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- readme-session -->\n```sh\n(.*?)```\n<!-- /readme-session -->", re.S)
TOKEN_LINE = "TOKEN=paste-the-token-here\n"
LINK = re.compile(r"/auth/verify-email\?token=([A-Za-z0-9_-]+)")

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the session uses curl")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Console:
    """The demo's output, line by line, read on a thread so waits can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: Queue[str] = Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        self.reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 30.0) -> re.Match[str]:
        wanted = re.compile(pattern) if isinstance(pattern, str) else pattern
        for line in self.seen:
            if (match := wanted.search(line)) is not None:
                return match
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except Empty:
                raise AssertionError(f"no {wanted.pattern!r} in:\n{''.join(self.seen)}") from None
            self.seen.append(line)
            if (match := wanted.search(line)) is not None:
                return match


@pytest.fixture
def demo() -> Iterator[tuple[int, Console]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "enotime", "run", "supervisors.demo:system", "--name", "demo"],
        cwd=ROOT,
        env={**os.environ, "ENOTIME_DEMO_PORT": str(port), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(process)
    try:
        console.wait_for("front serving")
        yield port, console
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        console.reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    assert code == 0, "".join(console.seen)


def run(script: str) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(120)
def test_the_readme_session_works_as_written(demo: tuple[int, Console]) -> None:
    port, console = demo
    block = BLOCK.search((ROOT / "README.md").read_text())
    assert block is not None, "README.md has no readme-session block"
    script = block.group(1).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    before, token_line, after = script.partition(TOKEN_LINE)
    assert token_line, f"the block has no {TOKEN_LINE.strip()!r} line"

    registered = run(before)
    assert "check your mailbox" in registered
    token = console.wait_for(LINK).group(1)
    session = run(before.split("curl", 1)[0] + f"TOKEN={token}\n" + after)

    assert "your email address is verified" in session
    assert '"title":"first note"' in session
    assert "HTTP/1.1 403" in session
    assert "application/problem+json" in session
