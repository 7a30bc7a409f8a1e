"""Fixtures of the system tests that run nodes as real processes on RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import NoReturn

import pytest

from tests.contract.test_transport import AMQP_URL, _amqp_answers
from tests.system.test_run_connected import Cluster


@pytest.fixture
def broker(require_service: Callable[[str], NoReturn]) -> str:
    """The RabbitMQ URL (skip or fail when no broker answers)."""
    if (reason := _amqp_answers()) is not None:
        require_service(reason)
    return AMQP_URL


@pytest.fixture
async def cluster(broker: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    made = Cluster(broker, tmp_path)
    try:
        yield made
    finally:
        await made.aclose()
