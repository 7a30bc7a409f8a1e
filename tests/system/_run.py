"""``enotime run`` as a user starts it: a real process, its output read line by line.

Every wait is on an output line or an exit status, with a deadline. Each run
carries a marker of its own in its environment (inherited by every process it
starts), so :meth:`EnotimeRun.clean_up` kills whatever it started, by PID,
even when the test failed.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from enotime.process import reap_marked

WAIT = 20.0
"""Seconds any one expected line or exit may take."""


class EnotimeRun:
    """One ``python -m enotime run ARGS`` process, its output lines, and its marker.

    Args:
        args: What follows ``enotime run``.
        cwd: The directory it runs in.
        env: Its environment; the marker is added under ``marker_var``.
        marker_var: The environment variable the marker travels in.
    """

    def __init__(
        self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], marker_var: str
    ) -> None:
        self.marker = uuid.uuid4().hex
        self.marker_var = marker_var
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enotime", "run", *args],
            cwd=cwd,
            env={**env, marker_var: self.marker},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern: str, nth: int = 1, timeout: float = WAIT) -> re.Match[str]:
        """The ``nth`` output line (so far or to come) matching ``pattern``.

        Fails after ``timeout`` seconds, or when the output ends.
        """
        deadline = time.monotonic() + timeout
        seen = 0
        index = 0
        while True:
            while index < len(self.lines):
                match = re.search(pattern, self.lines[index])
                index += 1
                if match and (seen := seen + 1) == nth:
                    return match
            left = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(left, 0.0)) if left > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail(f"no line #{nth} matching {pattern!r} in:\n" + self.output())
            self.lines.append(line)

    def wait(self, timeout: float = WAIT) -> int:
        """The exit status, once the output has been read to its end."""
        code = self.proc.wait(timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        self._queue.put(None)  # for any later expect()
        return code

    def output(self) -> str:
        return "\n".join(self.lines)

    def clean_up(self) -> None:
        """Kill the command and whatever it started, by PID; never leaves a test's processes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        reap_marked(self.marker, grace=0.5, var=self.marker_var)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
