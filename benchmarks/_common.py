"""What every benchmark shares: the command line, medians, paired ratios, the report.

The contract is in ``../shared/BENCHMARKS.md``: ours beside a peer in the same
run, several repetitions, figures as medians, ratios computed pair by pair
(ours / peer's for each repetition, then the median), a human table by
default and exactly one JSON object with ``--json``. The helpers at the end
keep the other half of it: every process a benchmark starts is stopped, found
by a marker in its environment and ended PID by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = [
    "MARKER_ENV",
    "Report",
    "Row",
    "median",
    "meets",
    "paired_ratio",
    "parse_args",
    "percentile",
    "reap_marked",
    "run_marker",
    "stdout_to_stderr",
    "time_calls",
]

T = TypeVar("T")

MARKER_ENV = "ENOTIME_BENCH_RUN"
"""Environment variable that marks every process one benchmark run starts."""


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    extend: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The contract's command line (``--quick``, ``--json``), plus a benchmark's own options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="smaller counts; finishes in under 60 s"
    )
    parser.add_argument(
        "--json", action="store_true", help="print exactly one JSON object on stdout"
    )
    parser.add_argument(
        "--repetitions", type=int, default=None, help="override the number of repetitions"
    )
    if extend is not None:
        extend(parser)
    return parser.parse_args(argv)


# -- statistics ----------------------------------------------------------------------


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values that were measured, or None if none was."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def paired_ratio(ours: Sequence[float | None], peer: Sequence[float | None]) -> float | None:
    """Median of ``ours[i] / peer[i]`` over the repetitions where both were measured."""
    pairs = [o / p for o, p in zip(ours, peer, strict=True) if o is not None and p]
    return statistics.median(pairs) if pairs else None


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (``fraction`` in 0..1)."""
    if not sorted_values:
        raise ValueError("no values")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def time_calls(
    call: Callable[[], Awaitable[object]], count: int, in_flight: int, *, timeout: float
) -> tuple[float, list[float]]:
    """Calls/s and the sorted latencies (seconds) of ``count`` calls, ``in_flight`` at a time.

    Raises ``TimeoutError`` if the calls take longer than ``timeout`` seconds in all.
    """
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            next_index += 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with asyncio.timeout(timeout):
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    return count / elapsed, sorted(latencies)


def meets(value: float | None, target: str) -> bool | None:
    """Whether ``value`` meets a target written ``">= N"`` or ``"<= N"`` (None: not measured)."""
    if value is None:
        return None
    op, _, number = target.partition(" ")
    if op == ">=":
        return value >= float(number)
    if op == "<=":
        return value <= float(number)
    raise ValueError(f"target {target!r} is neither '>= N' nor '<= N'")


# -- the report ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the human table: our figure beside the peer's, and their ratio."""

    label: str
    ours: str
    peer: str | None = None
    ratio: str | None = None
    target: str | None = None
    """The key in ``Report.targets`` this row is judged by (a ratio's or a figure's name)."""


@dataclass
class Report:
    """What a benchmark found, printed as a table or as the contract's JSON object."""

    benchmark: str
    figures: dict[str, float | None] = field(default_factory=dict)
    ratios: dict[str, float | None] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    """Figures that could not be measured, with the reason."""
    notes: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def value(self, key: str) -> float | None:
        """The ratio or figure named ``key``."""
        return self.ratios[key] if key in self.ratios else self.figures.get(key)

    def to_json(self) -> str:
        """The contract's object; ``missing`` and ``notes`` say what the figures cannot."""
        return json.dumps(
            {
                "benchmark": self.benchmark,
                "figures": {k: _rounded(v) for k, v in self.figures.items()},
                "ratios": {k: _rounded(v, 4) for k, v in self.ratios.items()},
                "targets": self.targets,
                "missing": self.missing,
                "notes": self.notes,
            }
        )

    def to_table(self) -> str:
        """A short table: ours, the peer's, the ratio, the target and whether it is met."""
        header = ("measure", "ENoTime", "peer", "ratio", "target", "met")
        lines: list[tuple[str, ...]] = [header]
        for row in self.rows:
            ratio = self.ratios.get(row.ratio) if row.ratio else None
            target = self.targets.get(row.target, "") if row.target else ""
            met = meets(self.value(row.target), target) if row.target and target else None
            lines.append(
                (
                    row.label,
                    _human(self.figures.get(row.ours)),
                    _human(self.figures.get(row.peer)) if row.peer else "",
                    f"{ratio:.3g}x" if ratio is not None else ("-" if row.ratio else ""),
                    target,
                    "" if not target else {True: "yes", False: "NO", None: "missing"}[met],
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = [
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
            for line in lines
        ]
        out.insert(1, "  ".join("-" * width for width in widths))
        out = [f"benchmark: {self.benchmark}", "", *out]
        reasons: dict[str, list[str]] = {}
        for name, why in self.missing.items():
            reasons.setdefault(why, []).append(name)
        out += [f"missing: {', '.join(names)}: {why}" for why, names in reasons.items()]
        out += [f"note: {note}" for note in self.notes]
        return "\n".join(out)

    def emit(self, as_json: bool) -> None:
        """Print the report on stdout, in the form the command line asked for."""
        print(self.to_json() if as_json else self.to_table(), flush=True)


def _rounded(value: float | None, digits: int = 1) -> float | None:
    """Large figures to ``digits`` decimals, small ones to four significant digits."""
    if value is None:
        return None
    return round(value, digits) if abs(value) >= 1000 else float(f"{value:.4g}")


def _human(value: float | None) -> str:
    if value is None:
        return "missing"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Send stray prints (a library's, say) to stderr so ``--json`` stdout stays one object."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


# -- process hygiene ------------------------------------------------------------------------


def run_marker() -> str:
    """A fresh marker for this run: pass ``{MARKER_ENV: marker}`` in each child's environment.

    A child's environment is inherited through ``fork`` and ``exec``, so even a
    daemon that double-forks away from its parent still carries the marker.
    """
    return uuid.uuid4().hex


def marked_pids(marker: str) -> list[int]:
    """PIDs of the live processes whose environment carries ``marker``."""
    needle = f"{MARKER_ENV}={marker}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def reap_marked(marker: str, grace: float = 5.0) -> list[int]:
    """Wait up to ``grace`` seconds for the marked processes to end, then kill them by PID.

    Returns the PIDs that had to be killed (empty when everything stopped by itself).
    """
    deadline = time.monotonic() + grace
    while (pids := marked_pids(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not pids:
        return []
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 1.0)):
        for pid in marked_pids(marker):  # re-read: never signal a PID that was reused
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while marked_pids(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not marked_pids(marker):
            break
    return pids
