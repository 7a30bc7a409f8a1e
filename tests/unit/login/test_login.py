"""Logging in: uniform answers and work for unknown users, lockout, notifications."""

from __future__ import annotations

import argon2
import pytest

from enotime.auth import Jwks
from enotime.crypto import CryptoClient
from enotime.login import (
    EmailNotVerified,
    InvalidCredentials,
    Login,
    LoginError,
    Tokens,
)
from enotime.login._records import DECOY_ID
from enotime.login._users import backoff
from enotime.store import Record

from .conftest import PASSWORD, LoginSystem, SystemFactory


async def refusal(system: LoginSystem, email: str, password: str) -> LoginError:
    with pytest.raises(LoginError) as refused:
        await system.call(Login(email, password))
    return refused.value


def answer(error: LoginError) -> tuple[type, str, int]:
    return type(error), str(error), error.http_status


async def test_a_login_answers_a_signed_access_token_and_a_refresh_token(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    assert tokens.token_type == "Bearer"
    assert tokens.expires_in == 300
    assert tokens.refresh_token
    claims = await system.verify(tokens.access_token)
    assert claims["iss"] == "https://login.test.example"
    assert claims["aud"] == "enotime-tests"
    assert claims["sub"].startswith("usr-")
    assert claims["amr"] == ["pwd"]
    assert claims["exp"] == system.time.now + 300


async def test_an_unknown_address_and_a_wrong_password_get_the_same_answer(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    unknown = await refusal(system, "nobody@example.com", PASSWORD)
    wrong = await refusal(system, "alice@example.com", "not the password at all")
    malformed = await refusal(system, "not an address", PASSWORD)
    assert answer(unknown) == answer(wrong) == answer(malformed)
    assert answer(unknown) == (InvalidCredentials, "the email or password is not correct", 401)


async def test_an_unknown_address_costs_one_password_verification_like_a_known_one(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    hasher = system.hasher

    await refusal(system, "alice@example.com", "not the password at all")
    assert (hasher.verifies, hasher.dummy_verifies) == (1, 0)
    await refusal(system, "nobody@example.com", PASSWORD)
    assert (hasher.verifies, hasher.dummy_verifies) == (1, 1)


async def test_only_the_right_password_learns_that_the_address_is_unverified(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com", verify=False)
    wrong = await refusal(system, "alice@example.com", "not the password at all")
    assert isinstance(wrong, InvalidCredentials)
    right = await refusal(system, "alice@example.com", PASSWORD)
    assert isinstance(right, EmailNotVerified)
    assert right.http_status == 403


async def test_an_oversized_password_is_refused_without_hashing(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    error = await refusal(system, "alice@example.com", "x" * 1_000_000)
    assert isinstance(error, InvalidCredentials)
    assert (system.hasher.verifies, system.hasher.dummy_verifies) == (0, 0)


async def test_repeated_failures_lock_the_user_with_the_same_answer_as_a_wrong_password(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    wrong = await refusal(system, "alice@example.com", "guess number 1 is wrong")
    for attempt in range(2, system.config.max_failures + 1):
        await refusal(system, "alice@example.com", f"guess number {attempt} is wrong")

    # Locked: the right password gets the wrong-password answer, after the same work.
    before = system.hasher.dummy_verifies
    locked = await refusal(system, "alice@example.com", PASSWORD)
    assert answer(locked) == answer(wrong)
    assert system.hasher.dummy_verifies == before + 1

    system.time.advance(system.config.base_backoff)
    assert isinstance(await system.log_in("alice@example.com"), Tokens)


async def test_the_back_off_doubles_with_each_failure_past_the_limit(
    system: LoginSystem,
) -> None:
    config = system.config
    await system.register("alice@example.com")
    for attempt in range(config.max_failures):
        await refusal(system, "alice@example.com", f"guess number {attempt} is wrong")
    system.time.advance(config.base_backoff)
    await refusal(system, "alice@example.com", "one more wrong guess here")  # locks for 2x
    system.time.advance(config.base_backoff)
    assert isinstance(await refusal(system, "alice@example.com", PASSWORD), InvalidCredentials)
    system.time.advance(config.base_backoff)
    assert isinstance(await system.log_in("alice@example.com"), Tokens)


async def test_attempts_while_locked_do_not_extend_the_lock(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    for attempt in range(system.config.max_failures):
        await refusal(system, "alice@example.com", f"guess number {attempt} is wrong")
    for _ in range(20):
        await refusal(system, "alice@example.com", "hammering while it is locked")
    system.time.advance(system.config.base_backoff)
    assert isinstance(await system.log_in("alice@example.com"), Tokens)


async def test_a_successful_login_clears_the_failure_count(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    for round_ in range(3):
        for attempt in range(system.config.max_failures - 1):
            await refusal(system, "alice@example.com", f"round {round_} guess {attempt} wrong")
        assert isinstance(await system.log_in("alice@example.com"), Tokens)


def test_the_back_off_is_capped(system: LoginSystem) -> None:
    config = system.config
    assert backoff(config.max_failures - 1, config) == 0
    assert backoff(config.max_failures, config) == config.base_backoff
    assert backoff(config.max_failures + 1, config) == 2 * config.base_backoff
    assert backoff(10_000, config) == config.max_backoff


async def test_each_login_is_notified_to_the_owner(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.log_in("alice@example.com")
    latest = (await system.mails_to("alice@example.com"))[-1]
    assert latest.subject == "New login to your account"
    assert "2023-11-14 22:13:20 UTC" in latest.text  # the fake clock's time


async def test_notifications_can_be_switched_off(start_system: SystemFactory) -> None:
    system = await start_system(login_notifications=False)
    await system.register("alice@example.com")
    await system.log_in("alice@example.com")
    subjects = [m.subject for m in await system.mails_to("alice@example.com")]
    assert subjects == ["Confirm your email address"]


async def test_unverified_users_may_log_in_when_verification_is_not_required(
    start_system: SystemFactory,
) -> None:
    system = await start_system(email_verification_required=False)
    await system.register("alice@example.com", verify=False)
    assert isinstance(await system.log_in("alice@example.com"), Tokens)


async def test_a_password_hashed_with_old_parameters_is_rehashed_at_login(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    crypto = CryptoClient(system.node.lookup("crypto"))
    lookup = await crypto.hmac(system.config.lookup_key, b"alice@example.com")
    [user] = await system.store.find("login.user", email_lookup=lookup)
    old = argon2.PasswordHasher(time_cost=2, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert system.hasher.needs_rehash(old)
    await system.store.put(Record(user.id, user.type, {**user.fields, "password": old}), user.rev)

    assert isinstance(await system.log_in("alice@example.com"), Tokens)
    rehashed = str((await system.store.get(user.id)).fields["password"])
    assert rehashed != old
    assert not system.hasher.needs_rehash(rehashed)


async def test_every_refused_login_writes_once_after_the_reply_known_user_or_not(
    system: LoginSystem,
) -> None:
    """A wrong password writes its user's failure count; an unknown address, the decoy.

    Both after the reply, both one write of a user-shaped record: neither the
    answer's delay nor the delay the write adds to the next request differ.
    """
    await system.register("alice@example.com")
    crypto = CryptoClient(system.node.lookup("crypto"))
    lookup = await crypto.hmac(system.config.lookup_key, b"alice@example.com")
    [alice] = await system.store.find("login.user", email_lookup=lookup)

    async def revisions() -> tuple[str | None, str | None]:
        await system.call(Jwks())  # queued behind the write-back: it has run
        user, decoy = await system.store.get(alice.id), await system.store.get(DECOY_ID)
        return user.rev, decoy.rev

    before = await revisions()
    await refusal(system, "nobody@example.com", PASSWORD)
    after_unknown = await revisions()
    assert after_unknown[0] == before[0]
    assert after_unknown[1] != before[1]

    await refusal(system, "alice@example.com", "not the password at all")
    after_wrong = await revisions()
    assert after_wrong[0] != after_unknown[0]
    assert after_wrong[1] == after_unknown[1]
    assert (await system.store.get(alice.id)).fields["failures"] == 1
