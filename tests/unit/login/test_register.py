"""Registration and email verification: no enumeration, single-use expiring links."""

from __future__ import annotations

import pytest

from enotime.login import (
    Accepted,
    EmailNotVerified,
    InvalidEmail,
    InvalidOrExpiredToken,
    Login,
    Register,
    RegistrationClosed,
    ResendVerification,
    Tokens,
    VerifyEmail,
    WeakPassword,
    WhoAmI,
)
from enotime.login._memberships import accounts_of

from .conftest import PASSWORD, LoginSystem, SystemFactory


async def test_a_new_user_gets_a_verification_link_and_can_log_in_after_following_it(
    system: LoginSystem,
) -> None:
    answer = await system.call(Register("alice@example.com", PASSWORD))
    assert isinstance(answer, Accepted)
    [mail] = await system.mails_to("alice@example.com")
    assert "https://app.example.com/auth/verify-email?token=" in mail.text
    with pytest.raises(EmailNotVerified):
        await system.call(Login("alice@example.com", PASSWORD))

    token = await system.last_token_to("alice@example.com", "/verify-email")
    verified = await system.call(VerifyEmail(token))
    assert isinstance(verified, Accepted)

    tokens = await system.log_in("alice@example.com")
    claims = await system.verify(tokens.access_token)
    assert claims["acct"] == tokens.account
    assert claims["roles"] == ["owner"]  # of the personal account made at registration
    assert await accounts_of(system.store, claims["sub"]) == [(tokens.account, ["owner"])]


async def test_registering_a_known_address_answers_exactly_like_a_new_one(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    first = await system.call(Register("bob@example.com", PASSWORD))
    again = await system.call(Register("alice@example.com", "another password entirely"))
    assert first == again
    # The owner learns of the attempt; the attacker learns nothing.
    latest = (await system.mails_to("alice@example.com"))[-1]
    assert latest.subject == "Someone tried to sign up with your address"
    assert "token=" not in latest.text
    # And the original password still works: nothing was overwritten.
    assert isinstance(await system.log_in("alice@example.com"), Tokens)


async def test_both_registration_paths_hash_the_password(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    before = system.hasher.hashes
    await system.call(Register("alice@example.com", PASSWORD))
    assert system.hasher.hashes == before + 1  # the same work as a fresh registration


async def test_registering_an_unverified_address_again_mails_a_fresh_link(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com", verify=False)
    await system.call(Register("alice@example.com", PASSWORD))
    mails = await system.mails_to("alice@example.com")
    assert [m.subject for m in mails] == ["Confirm your email address"] * 2


async def test_addresses_are_normalised_so_case_does_not_make_a_second_account(
    system: LoginSystem,
) -> None:
    await system.register("Alice.Liddell@Example.COM")
    await system.call(Register("alice.liddell@example.com", PASSWORD))
    # Mail goes to the address as registered (the domain lower-cased), once per user.
    mails = await system.mails_to("Alice.Liddell@example.com")
    assert [m.subject for m in mails][-1] == "Someone tried to sign up with your address"
    tokens = await system.log_in("ALICE.LIDDELL@example.com")
    me = await system.as_user(tokens, WhoAmI())
    assert me.email == "Alice.Liddell@example.com"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "too short"),
        ("x" * 1025, "over 1024 bytes"),
        ("é" * 600, "600 characters but 1200 bytes"),
        (" " * 20, "only spaces"),
        ("\ud800" * 20, "not valid Unicode"),
    ],
)
async def test_a_password_outside_the_policy_is_refused_with_the_policy(
    system: LoginSystem, password: str, why: str
) -> None:
    with pytest.raises(WeakPassword) as refused:
        await system.call(Register("alice@example.com", password))
    assert refused.value.http_status == 400
    assert system.hasher.hashes == 0, why  # refused before any hashing
    assert await system.mails() == []


async def test_the_policy_message_says_what_is_needed(system: LoginSystem) -> None:
    with pytest.raises(WeakPassword, match="at least 12 characters and at most 1024 bytes"):
        await system.call(Register("alice@example.com", "short"))


@pytest.mark.parametrize(
    "email", ["not an address", "a@b", "alice@localhost", "x" * 250 + "@example.com", ""]
)
async def test_an_invalid_address_is_refused(system: LoginSystem, email: str) -> None:
    with pytest.raises(InvalidEmail):
        await system.call(Register(email, PASSWORD))


async def test_registration_can_be_closed(start_system: SystemFactory) -> None:
    system = await start_system(registration=False)
    with pytest.raises(RegistrationClosed) as refused:
        await system.call(Register("alice@example.com", PASSWORD))
    assert refused.value.http_status == 403


async def test_without_verification_a_new_user_logs_in_at_once(
    start_system: SystemFactory,
) -> None:
    system = await start_system(email_verification=False, email_verification_required=False)
    await system.call(Register("alice@example.com", PASSWORD))
    assert isinstance(await system.log_in("alice@example.com"), Tokens)


async def test_a_verification_link_works_once(system: LoginSystem) -> None:
    await system.call(Register("alice@example.com", PASSWORD))
    token = await system.last_token_to("alice@example.com", "/verify-email")
    await system.call(VerifyEmail(token))
    with pytest.raises(InvalidOrExpiredToken) as refused:
        await system.call(VerifyEmail(token))
    assert refused.value.http_status == 400


async def test_a_verification_link_expires(system: LoginSystem) -> None:
    await system.call(Register("alice@example.com", PASSWORD))
    token = await system.last_token_to("alice@example.com", "/verify-email")
    system.time.advance(system.config.verification_ttl)
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(VerifyEmail(token))
    with pytest.raises(EmailNotVerified):
        await system.call(Login("alice@example.com", PASSWORD))


@pytest.mark.parametrize("token", ["", "nonsense", "A" * 43, "x" * 10_000])
async def test_an_unknown_or_malformed_token_is_the_same_refusal(
    system: LoginSystem, token: str
) -> None:
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(VerifyEmail(token))


async def test_resending_answers_the_same_for_any_address_and_mails_only_the_unverified(
    system: LoginSystem,
) -> None:
    await system.register("verified@example.com")
    await system.register("waiting@example.com", verify=False)
    answers = {
        await system.call(ResendVerification(address))
        for address in ("verified@example.com", "waiting@example.com", "nobody@example.com")
    }
    assert len(answers) == 1
    assert len(await system.mails_to("waiting@example.com")) == 2
    assert len(await system.mails_to("verified@example.com")) == 1
    assert await system.mails_to("nobody@example.com") == []
    new_token = await system.last_token_to("waiting@example.com", "/verify-email")
    await system.call(VerifyEmail(new_token))
    assert isinstance(await system.log_in("waiting@example.com"), Tokens)
