"""``enotime.metrics`` declares its public names once, and each resolves."""

from __future__ import annotations

import enotime
import enotime.metrics


def test_every_public_name_resolves_once() -> None:
    names = enotime.metrics.__all__
    assert sorted(names) == sorted(set(names))
    for name in names:
        assert hasattr(enotime.metrics, name), name
    daily = {id(getattr(enotime, name)) for name in enotime.__all__}
    assert not [
        n
        for n in names
        if id(getattr(enotime.metrics, n)) in daily and callable(getattr(enotime.metrics, n))
    ]


def test_the_kernel_statistics_are_in_the_daily_api() -> None:
    for name in ("ActorClassStatistics", "HandlerStatistics", "NodeStatistics"):
        assert name in enotime.__all__
