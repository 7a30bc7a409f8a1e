"""TOTP: enrol, confirm, the second login step, replay prevention, recovery codes, disable."""

from __future__ import annotations

import pytest

from enotime.login import (
    Accepted,
    ConfirmMfa,
    DisableMfa,
    EnrolMfa,
    FlowDisabled,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidOrExpiredToken,
    Login,
    LoginMfa,
    MfaAlreadyEnabled,
    MfaChallenge,
    MfaNotEnabled,
    RecoveryCodes,
    Tokens,
    WhoAmI,
)

from .conftest import PASSWORD, LoginSystem, SystemFactory

STEP = 30.0


async def enrolled(system: LoginSystem) -> tuple[Tokens, str, RecoveryCodes]:
    """Alice, logged in, with TOTP confirmed: her tokens, her secret, her recovery codes."""
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    enrolment = await system.as_user(tokens, EnrolMfa())
    codes = await system.as_user(tokens, ConfirmMfa(system.totp_code(enrolment.secret)))
    system.time.advance(STEP)  # the confirming code's step is spent
    return tokens, enrolment.secret, codes


async def challenge(system: LoginSystem) -> str:
    answer = await system.call(Login("alice@example.com", PASSWORD))
    assert isinstance(answer, MfaChallenge)
    assert answer.methods == ("totp", "recovery_code")
    return answer.challenge


async def test_enrolment_gives_a_secret_and_is_pending_until_confirmed(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    enrolment = await system.as_user(tokens, EnrolMfa())
    assert enrolment.otpauth_uri.startswith("otpauth://totp/")
    assert enrolment.secret in enrolment.otpauth_uri
    # Not active yet: logging in still takes the password only.
    assert isinstance(await system.log_in("alice@example.com"), Tokens)
    codes = await system.as_user(tokens, ConfirmMfa(system.totp_code(enrolment.secret)))
    assert len(codes.codes) == 10
    assert len(set(codes.codes)) == 10
    assert (await system.as_user(tokens, WhoAmI())).mfa_enabled
    subjects = [m.subject for m in await system.mails_to("alice@example.com")]
    assert "Two-factor authentication enabled" in subjects


async def test_a_wrong_code_does_not_confirm(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    await system.as_user(tokens, EnrolMfa())
    with pytest.raises(InvalidMfaCode):
        await system.as_user(tokens, ConfirmMfa("000000"))
    assert not (await system.as_user(tokens, WhoAmI())).mfa_enabled


async def test_confirming_without_enrolling_is_refused(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    with pytest.raises(MfaNotEnabled):
        await system.as_user(tokens, ConfirmMfa("123456"))


async def test_enrolling_twice_is_refused_once_active(system: LoginSystem) -> None:
    tokens, _, _ = await enrolled(system)
    with pytest.raises(MfaAlreadyEnabled) as refused:
        await system.as_user(tokens, EnrolMfa())
    assert refused.value.http_status == 409


async def test_with_mfa_the_password_step_answers_a_challenge_and_the_code_step_tokens(
    system: LoginSystem,
) -> None:
    _, secret, _ = await enrolled(system)
    tokens = await system.call(LoginMfa(await challenge(system), system.totp_code(secret)))
    claims = await system.verify(tokens.access_token)
    assert "otp" in claims["amr"]
    assert "pwd" in claims["amr"]


async def test_the_code_may_come_with_the_password(system: LoginSystem) -> None:
    _, secret, _ = await enrolled(system)
    answer = await system.call(Login("alice@example.com", PASSWORD, system.totp_code(secret)))
    assert isinstance(answer, Tokens)
    assert "otp" in (await system.verify(answer.access_token))["amr"]


async def test_a_wrong_password_never_reaches_the_code_step(system: LoginSystem) -> None:
    await enrolled(system)
    with pytest.raises(InvalidCredentials):
        await system.call(Login("alice@example.com", "not the password at all"))


async def test_a_code_is_refused_when_replayed(system: LoginSystem) -> None:
    _, secret, _ = await enrolled(system)
    code = system.totp_code(secret)
    await system.call(LoginMfa(await challenge(system), code))
    with pytest.raises(InvalidMfaCode):
        await system.call(LoginMfa(await challenge(system), code))  # read over a shoulder
    system.time.advance(STEP)
    fresh = await system.call(LoginMfa(await challenge(system), system.totp_code(secret)))
    assert isinstance(fresh, Tokens)


async def test_the_confirming_code_cannot_be_replayed_to_log_in(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    enrolment = await system.as_user(tokens, EnrolMfa())
    code = system.totp_code(enrolment.secret)
    await system.as_user(tokens, ConfirmMfa(code))
    with pytest.raises(InvalidMfaCode):
        await system.call(LoginMfa(await challenge(system), code))


async def test_a_recovery_code_works_once(system: LoginSystem) -> None:
    _, _, codes = await enrolled(system)
    code = codes.codes[3]
    tokens = await system.call(LoginMfa(await challenge(system), code))
    assert "otp" in (await system.verify(tokens.access_token))["amr"]
    with pytest.raises(InvalidMfaCode):
        await system.call(LoginMfa(await challenge(system), code))
    other = await system.call(LoginMfa(await challenge(system), codes.codes[4].upper()))
    assert isinstance(other, Tokens)


async def test_a_challenge_is_single_use_and_short_lived(system: LoginSystem) -> None:
    _, secret, _ = await enrolled(system)
    used = await challenge(system)
    await system.call(LoginMfa(used, system.totp_code(secret)))
    system.time.advance(STEP)
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(LoginMfa(used, system.totp_code(secret)))
    stale = await challenge(system)
    system.time.advance(system.config.mfa_challenge_ttl)
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(LoginMfa(stale, system.totp_code(secret)))


async def test_a_challenge_is_spent_after_a_few_wrong_codes(start_system: SystemFactory) -> None:
    system = await start_system(mfa_challenge_attempts=3, max_failures=10)
    _, secret, _ = await enrolled(system)
    pending = await challenge(system)
    for _ in range(3):
        with pytest.raises(InvalidMfaCode):
            await system.call(LoginMfa(pending, "000000"))
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(LoginMfa(pending, system.totp_code(secret)))


async def test_guessing_codes_locks_the_user_like_guessing_passwords(
    system: LoginSystem,
) -> None:
    _, secret, _ = await enrolled(system)
    for _ in range(system.config.max_failures):
        pending = await challenge(system)  # the password is known to this attacker
        with pytest.raises(InvalidMfaCode):
            await system.call(LoginMfa(pending, "000000"))
    # Locked: even the right password is refused now, and even a right code.
    with pytest.raises(InvalidCredentials):
        await system.call(Login("alice@example.com", PASSWORD))
    system.time.advance(system.config.base_backoff)
    pending = await challenge(system)
    answer: Tokens = await system.call(LoginMfa(pending, system.totp_code(secret)))
    assert isinstance(answer, Tokens)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "x" * 10_000, "\ud800" * 6])
async def test_malformed_codes_are_refused(system: LoginSystem, code: str) -> None:
    await enrolled(system)
    with pytest.raises(InvalidMfaCode):
        await system.call(LoginMfa(await challenge(system), code))


async def test_disabling_needs_a_current_code_or_the_password(system: LoginSystem) -> None:
    tokens, secret, _ = await enrolled(system)
    with pytest.raises(InvalidMfaCode):
        await system.as_user(tokens, DisableMfa(code="000000"))
    with pytest.raises(InvalidCredentials):
        await system.as_user(tokens, DisableMfa(password="not the password at all"))
    with pytest.raises(InvalidCredentials):
        await system.as_user(tokens, DisableMfa())
    answer = await system.as_user(tokens, DisableMfa(code=system.totp_code(secret)))
    assert isinstance(answer, Accepted)
    assert isinstance(await system.log_in("alice@example.com"), Tokens)
    with pytest.raises(MfaNotEnabled):
        await system.as_user(tokens, DisableMfa(password=PASSWORD))


async def test_disabling_with_the_password(system: LoginSystem) -> None:
    tokens, _, _ = await enrolled(system)
    await system.as_user(tokens, DisableMfa(password=PASSWORD))
    assert not (await system.as_user(tokens, WhoAmI())).mfa_enabled
    subjects = [m.subject for m in await system.mails_to("alice@example.com")]
    assert "Two-factor authentication disabled" in subjects


async def test_enrolment_can_be_switched_off(start_system: SystemFactory) -> None:
    system = await start_system(mfa=False)
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    with pytest.raises(FlowDisabled):
        await system.as_user(tokens, EnrolMfa())
