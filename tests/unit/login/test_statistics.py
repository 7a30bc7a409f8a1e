"""What the login actor counts: each flow by a bounded outcome, per node, read at scrape time."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from enotime.login import (
    ConfirmMfa,
    DisableMfa,
    EmailNotVerified,
    EnrolMfa,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidOrExpiredToken,
    InvalidRefreshToken,
    Login,
    LoginMfa,
    MfaChallenge,
    Refresh,
    Register,
    RequestPasswordReset,
    ResetPassword,
    Tokens,
    WeakPassword,
)
from enotime.login._statistics import (
    LOGIN_OUTCOMES,
    MFA_EVENTS,
    PASSWORD_RESET_STAGES,
    REFRESH_OUTCOMES,
    REGISTRATION_OUTCOMES,
    LoginStatistics,
    login_statistics,
)
from enotime.metrics import LOGIN_METRICS, instrument, uninstrument

from .conftest import PASSWORD, LoginSystem, SystemFactory

STEP = 30.0
NEW_PASSWORD = "a brand new passphrase"


def stats(system: LoginSystem) -> LoginStatistics:
    found = login_statistics(system.node)
    assert found is not None
    return found


def nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {label: count for label, count in counts.items() if count}


async def test_every_label_exists_at_zero_once_a_login_actor_started(system: LoginSystem) -> None:
    found = stats(system)
    assert dict(found.registrations) == dict.fromkeys(REGISTRATION_OUTCOMES, 0)
    assert dict(found.logins) == dict.fromkeys(LOGIN_OUTCOMES, 0)
    assert dict(found.mfa_events) == dict.fromkeys(MFA_EVENTS, 0)
    assert dict(found.refreshes) == dict.fromkeys(REFRESH_OUTCOMES, 0)
    assert dict(found.password_resets) == dict.fromkeys(PASSWORD_RESET_STAGES, 0)
    assert found.tokens_issued == 0


async def test_registrations_are_counted_by_what_they_ended_in(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.call(Register("alice@example.com", PASSWORD))  # answered like a new one
    await system.call(Register("bob@example.com", PASSWORD))  # not verified yet: a new link
    await system.call(Register("bob@example.com", PASSWORD))
    with pytest.raises(WeakPassword):
        await system.call(Register("carol@example.com", "short"))
    await system.mails()  # the work after the replies is done
    assert nonzero(stats(system).registrations) == {"accepted": 2, "duplicate": 2, "refused": 1}


async def test_logins_are_counted_by_outcome_and_tokens_as_issued(
    start_system: SystemFactory,
) -> None:
    system = await start_system(max_failures=2)
    await system.register("alice@example.com")
    await system.register("bob@example.com", verify=False)
    tokens = await system.log_in("alice@example.com")
    for email, password in (
        ("alice@example.com", "not the password at all"),
        ("nobody@example.com", PASSWORD),
        ("alice@example.com", "x" * 2000),  # refused before hashing
    ):
        with pytest.raises(InvalidCredentials):
            await system.call(Login(email, password))
    with pytest.raises(EmailNotVerified):
        await system.call(Login("bob@example.com", PASSWORD))
    with pytest.raises(InvalidCredentials):  # the second failure locks alice
        await system.call(Login("alice@example.com", "still not the password"))
    with pytest.raises(InvalidCredentials):
        await system.call(Login("alice@example.com", PASSWORD))  # right, but locked
    renewed = await system.call(Refresh(tokens.refresh_token or ""))
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(tokens.refresh_token or ""))  # spent: a reuse
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh("not a refresh token"))
    assert isinstance(renewed, Tokens)
    found = stats(system)
    assert nonzero(found.logins) == {
        "success": 1,
        "invalid_credentials": 4,
        "unverified": 1,
        "locked": 1,
    }
    assert nonzero(found.refreshes) == {"rotated": 1, "reuse_detected": 1, "invalid": 1}
    assert found.tokens_issued == 2  # the login's and the refresh's


async def test_mfa_events_and_the_second_login_step_are_counted(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    tokens = await system.log_in("alice@example.com")
    enrolment = await system.as_user(tokens, EnrolMfa())
    with pytest.raises(InvalidMfaCode):
        await system.as_user(tokens, ConfirmMfa("12345x"))
    confirming = system.totp_code(enrolment.secret)
    codes = await system.as_user(tokens, ConfirmMfa(confirming))
    challenge = await system.call(Login("alice@example.com", PASSWORD))
    assert isinstance(challenge, MfaChallenge)
    with pytest.raises(InvalidMfaCode):  # the confirming code's step is spent
        await system.call(LoginMfa(challenge.challenge, confirming))
    with pytest.raises(InvalidMfaCode):
        await system.call(LoginMfa(challenge.challenge, "not a code"))
    await system.call(LoginMfa(challenge.challenge, codes.codes[0]))  # a recovery code
    with pytest.raises(InvalidOrExpiredToken):  # the challenge is spent
        await system.call(LoginMfa(challenge.challenge, codes.codes[1]))
    system.time.advance(STEP)
    inline = await system.call(
        Login("alice@example.com", PASSWORD, system.totp_code(enrolment.secret))
    )
    assert isinstance(inline, Tokens)
    system.time.advance(STEP)
    await system.as_user(inline, DisableMfa(code=system.totp_code(enrolment.secret)))
    found = stats(system)
    assert nonzero(found.mfa_events) == {
        "enrolled": 1,
        "confirmed": 1,
        "failed": 2,  # the malformed confirming code, "not a code"
        "replayed": 1,
        "recovery_used": 1,
        "verified": 2,  # the inline code, the disabling code
        "disabled": 1,
    }
    assert nonzero(found.logins) == {
        "success": 3,
        "mfa_required": 1,
        "invalid_mfa_code": 2,
        "invalid_challenge": 1,
    }


async def test_password_resets_are_counted_by_stage(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.call(RequestPasswordReset("alice@example.com"))
    await system.call(RequestPasswordReset("nobody@example.com"))
    token = await system.last_token_to("alice@example.com", "/reset-password")
    with pytest.raises(WeakPassword):
        await system.call(ResetPassword(token, "short"))
    await system.call(ResetPassword(token, NEW_PASSWORD))
    with pytest.raises(InvalidOrExpiredToken):
        await system.call(ResetPassword(token, NEW_PASSWORD))
    assert nonzero(stats(system).password_resets) == {
        "requested": 2,
        "mailed": 1,
        "weak_password": 1,
        "completed": 1,
        "invalid_token": 1,
    }


async def test_the_counts_outlive_a_restarted_login_actor_and_are_exposed(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com")
    await system.log_in("alice@example.com")
    await system.restart()
    await system.log_in("alice@example.com")
    assert stats(system).logins["success"] == 2
    registry = CollectorRegistry()
    instrument(system.node, registry)
    try:
        families = {
            (f"{f.name}_total" if f.type == "counter" else f.name): f
            for f in text_string_to_metric_families(generate_latest(registry).decode())
        }
    finally:
        uninstrument(system.node, registry)
    login = {name: f.type for name, f in families.items() if name.startswith("enotime_login_")}
    assert login == LOGIN_METRICS
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples["enotime_login_logins_total", (("outcome", "success"),)] == 2
    assert samples["enotime_login_registrations_total", (("outcome", "accepted"),)] == 1
    assert samples["enotime_login_tokens_issued_total", ()] == 2
    assert samples["enotime_login_mfa_events_total", (("event", "replayed"),)] == 0
    assert samples["enotime_login_password_resets_total", (("stage", "requested"),)] == 0
    assert samples["enotime_login_refresh_total", (("outcome", "rotated"),)] == 0
    labels = {
        label
        for f in families.values()
        if f.name.startswith("enotime_login_")
        for s in f.samples
        for label in s.labels
    }
    assert labels == {"outcome", "event", "stage"}  # no user, no address
