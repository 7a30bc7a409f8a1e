"""enotime.process without processes: specs, restart intensity, markers."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from enotime import Restart
from enotime.process import (
    MARKER_ENV,
    ProcessSpec,
    ProcessSupervisor,
    RestartIntensity,
    node_process,
    process_child,
    with_marker,
)
from enotime.testing import ManualClock


def test_restart_intensity_allows_max_restarts_within_the_window() -> None:
    clock = ManualClock()
    intensity = RestartIntensity(2, 5.0, clock)
    assert intensity.allow()
    clock.advance(1.0)
    assert intensity.allow()
    clock.advance(1.0)
    assert not intensity.allow()  # three in 2 s: one too many


def test_restarts_older_than_the_window_are_forgotten() -> None:
    clock = ManualClock()
    intensity = RestartIntensity(1, 5.0, clock)
    assert intensity.allow()
    clock.advance(5.5)
    assert intensity.allow()


def test_zero_restarts_gives_up_at_the_first() -> None:
    assert not RestartIntensity(0, 5.0, ManualClock()).allow()


def test_a_spec_round_trips_through_json() -> None:
    spec = process_child(
        "sleep", "1", id="s", restart=Restart.TRANSIENT, shutdown=2.0, env={"A": "1"}
    )
    assert ProcessSpec.from_json(spec.to_json()) == spec


def test_node_process_runs_enotime_run_with_the_node_name() -> None:
    spec = node_process("app:tree", name="app-1", options=["--log-level", "DEBUG"])
    assert spec.id == "app-1"
    assert spec.argv == (
        sys.executable, "-m", "enotime", "run", "app:tree", "--name", "app-1",
        "--log-level", "DEBUG",
    )  # fmt: skip
    assert spec.restart is Restart.TRANSIENT


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (lambda: process_child(id="empty"), "argv is empty"),
        (lambda: process_child("x", id=""), "non-empty id"),
        (lambda: process_child("x", id="x", shutdown=-1), "shutdown"),
        (
            lambda: ProcessSupervisor([process_child("x", id="a"), process_child("y", id="a")]),
            "unique",
        ),
        (lambda: RestartIntensity(-1, 1.0), "max_restarts"),
    ],
)
def test_invalid_configurations_are_refused(bad: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bad()


def test_markers_accumulate_so_nested_runs_are_found_by_both() -> None:
    env = with_marker(with_marker({"PATH": "/bin"}, "outer"), "inner")
    assert env[MARKER_ENV] == "outer:inner"
    assert with_marker(env, "inner") == env
