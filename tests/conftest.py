"""Shared test fixtures.

Real services (RabbitMQ, pouchdb-server, Prometheus, ...) are skipped with the
reason on a laptop and fail in CI, where ``ENOTIME_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

import pytest


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test (laptop) or fail it (CI) because a real service is missing."""
    if os.environ.get("ENOTIME_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def require_service() -> Callable[[str], NoReturn]:
    """The function to call when a needed service cannot be reached."""
    return service_unavailable
