"""Password reset: the same answer for every address, single-use links, every session ended."""

from __future__ import annotations

import pytest

from enotime.auth import InvalidToken, TokenProblem
from enotime.login import (
    Accepted,
    FlowDisabled,
    InvalidCredentials,
    InvalidOrExpiredToken,
    InvalidRefreshToken,
    Login,
    Refresh,
    RequestPasswordReset,
    ResetPassword,
    Tokens,
    WeakPassword,
)

from .conftest import PASSWORD, LoginSystem, SystemFactory

NEW_PASSWORD = "a brand new passphrase"


async def test_a_reset_request_answers_the_same_for_known_and_unknown_addresses(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    known = await system.call(RequestPasswordReset("alice@example.com"))
    unknown = await system.call(RequestPasswordReset("nobody@example.com"))
    assert known == unknown
    assert isinstance(known, Accepted)
    assert await system.mails_to("nobody@example.com") == []
    latest = (await system.mails_to("alice@example.com"))[-1]
    assert "https://app.example.com/auth/reset-password?token=" in latest.text


async def test_a_reset_sets_the_new_password(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.call(RequestPasswordReset("alice@example.com"))
    token = await system.last_token_to("alice@example.com", "/reset-password")
    answer: Accepted = await system.call(ResetPassword(token, NEW_PASSWORD))
    assert isinstance(answer, Accepted)
    with pytest.raises(InvalidCredentials):
        await system.call(Login("alice@example.com", PASSWORD))
    assert isinstance(await system.log_in("alice@example.com", NEW_PASSWORD), Tokens)
    subjects = [m.subject for m in await system.mails_to("alice@example.com")]
    assert "Your password was changed" in subjects


async def test_a_reset_link_works_once(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.call(RequestPasswordReset("alice@example.com"))
    token = await system.last_token_to("alice@example.com", "/reset-password")
    await system.call(ResetPassword(token, NEW_PASSWORD))
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(ResetPassword(token, "the attackers new password"))
    assert isinstance(await system.log_in("alice@example.com", NEW_PASSWORD), Tokens)


async def test_a_reset_link_expires(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.call(RequestPasswordReset("alice@example.com"))
    token = await system.last_token_to("alice@example.com", "/reset-password")
    system.time.advance(system.config.reset_ttl)
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(ResetPassword(token, NEW_PASSWORD))


async def test_a_weak_new_password_does_not_spend_the_link(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.call(RequestPasswordReset("alice@example.com"))
    token = await system.last_token_to("alice@example.com", "/reset-password")
    with pytest.raises(WeakPassword):
        await system.call(ResetPassword(token, "short"))
    answer: Accepted = await system.call(ResetPassword(token, NEW_PASSWORD))
    assert isinstance(answer, Accepted)


async def test_a_verification_token_is_not_a_reset_token(system: LoginSystem) -> None:
    await system.register("alice@example.com", verify=False)
    token = await system.last_token_to("alice@example.com", "/verify-email")
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(ResetPassword(token, NEW_PASSWORD))


async def test_a_reset_ends_every_session_and_revokes_every_access_token(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    await system.call(RequestPasswordReset("alice@example.com"))
    token = await system.last_token_to("alice@example.com", "/reset-password")
    await system.call(ResetPassword(token, NEW_PASSWORD))

    await system.revocations_pushed()
    with pytest.raises(InvalidToken) as invalid:
        await system.verify(tokens.access_token)
    assert invalid.value.problem is TokenProblem.REVOKED
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(tokens.refresh_token or ""))

    system.time.advance(1)
    fresh = await system.log_in("alice@example.com", NEW_PASSWORD)
    assert (await system.verify(fresh.access_token))["sub"]


async def test_a_reset_unlocks_a_locked_user_and_verifies_the_address(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com", verify=False)
    for attempt in range(system.config.max_failures):
        with pytest.raises(InvalidCredentials):
            await system.call(Login("alice@example.com", f"wrong guess number {attempt}"))
    await system.call(RequestPasswordReset("alice@example.com"))
    token = await system.last_token_to("alice@example.com", "/reset-password")
    await system.call(ResetPassword(token, NEW_PASSWORD))
    assert isinstance(await system.log_in("alice@example.com", NEW_PASSWORD), Tokens)


async def test_reset_can_be_switched_off(start_system: SystemFactory) -> None:
    system = await start_system(password_reset=False)
    with pytest.raises(FlowDisabled):
        await system.call(RequestPasswordReset("alice@example.com"))
    with pytest.raises(FlowDisabled):
        await system.call(ResetPassword("x" * 43, NEW_PASSWORD))
