"""The login actor itself: its defaults, its configuration checks, and its start."""

from __future__ import annotations

import threading

import pytest

from enotime import Node
from enotime.errors import StartFailed
from enotime.login import LoginConfig, LoginService


def test_the_default_hasher_uses_owasp_argon2id_parameters() -> None:
    service = LoginService()
    try:
        parameters = service.hasher.parameters
        assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
            2,
            19_456,
            1,
        )
        assert parameters.type.name == "ID"
    finally:
        service.hasher.close()


def test_the_default_configuration() -> None:
    config = LoginConfig()
    assert (config.access_ttl, config.refresh_ttl) == (300.0, 14 * 24 * 3600.0)
    assert (config.min_password_chars, config.max_password_bytes) == (12, 1024)
    assert config.fronts == ("front",)
    assert (config.mailer, config.store, config.crypto) == ("mailer", "store", "crypto")
    assert config.email_key not in ("store", "store-index")


@pytest.mark.parametrize(
    "overrides",
    [
        {"email_verification": False},  # verification required but never mailed
        {"access_ttl": 0},
        {"max_failures": 0},
        {"min_password_chars": 4},
        {"max_signing_keys": 1},
        {"fronts": "front"},
        {"mfa_challenge_attempts": 0},
    ],
)
def test_inconsistent_configurations_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        LoginConfig(**overrides)  # type: ignore[arg-type]


async def test_without_a_store_the_login_actor_fails_to_start_and_leaves_no_threads() -> None:
    before = {t.name for t in threading.enumerate()}
    async with Node("lonely") as node:
        with pytest.raises(StartFailed):
            await node.spawn(LoginService, name="login")
    leaked = {t.name for t in threading.enumerate()} - before
    assert not {name for name in leaked if name.startswith("enotime-argon2")}
