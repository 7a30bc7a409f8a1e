"""The messages between the login actor and the fronts: frozen, typed, and wire-ready."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from enotime.auth import Jwks, Revocations, RevocationsChanged
from enotime.messages import Request
from enotime.transport import default_registry


@pytest.mark.parametrize(
    "message",
    [Jwks(), Revocations(), RevocationsChanged({"tokens": {"j": 1.5}, "subjects": {}})],
)
def test_each_message_is_frozen_and_crosses_the_wire(message: Any) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.extra = 1
    assert dataclasses.is_dataclass(message)
    wire = default_registry.dump(message)
    assert wire["type"].startswith("enotime.auth.")
    assert default_registry.load(wire["type"], wire["v"], wire["body"]) == message


def test_the_queries_are_requests_and_the_change_is_a_cast() -> None:
    assert issubclass(Jwks, Request)
    assert issubclass(Revocations, Request)
    assert not issubclass(RevocationsChanged, Request)
