"""Sessions: rotating refresh tokens with reuse detection, logout, switching accounts, keys."""

from __future__ import annotations

from typing import Any

import pytest

from enotime.auth import Forbidden, InvalidToken, Jwks, Revocations, TokenProblem, Unauthenticated
from enotime.login import (
    InvalidRefreshToken,
    Logout,
    Refresh,
    RotateSigningKey,
    SwitchAccount,
    Tokens,
    WhoAmI,
)
from enotime.login._memberships import MEMBERSHIP, create_account, membership_id
from enotime.messages import Request
from enotime.store import Record

from .conftest import LoginSystem


async def logged_in(system: LoginSystem, email: str = "alice@example.com") -> Tokens:
    await system.register(email)
    return await system.log_in(email)


async def test_a_refresh_answers_new_tokens_and_spends_the_old_refresh_token(
    system: LoginSystem,
) -> None:
    tokens = await logged_in(system)
    system.time.advance(60)
    renewed = await system.call(Refresh(tokens.refresh_token or ""))
    assert renewed.refresh_token not in (None, tokens.refresh_token)
    assert renewed.access_token != tokens.access_token
    claims = await system.verify(renewed.access_token)
    assert claims["iat"] == system.time.now
    assert claims["acct"] == tokens.account
    again = await system.call(Refresh(renewed.refresh_token or ""))
    assert isinstance(again, Tokens)


async def test_a_reused_refresh_token_ends_the_session_and_its_access_tokens(
    system: LoginSystem,
) -> None:
    tokens = await logged_in(system)
    stolen = tokens.refresh_token or ""
    system.time.advance(1)
    legitimate = await system.call(Refresh(stolen))  # the client rotates

    with pytest.raises(InvalidRefreshToken) as refused:
        await system.call(Refresh(stolen))  # the thief replays the copy
    assert refused.value.http_status == 401

    # The whole family is dead, the newest token included ...
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(legitimate.refresh_token or ""))
    # ... and the fronts refuse every access token issued so far.
    await system.revocations_pushed()
    for access in (tokens.access_token, legitimate.access_token):
        with pytest.raises(InvalidToken) as invalid:
            await system.verify(access)
        assert invalid.value.problem is TokenProblem.REVOKED


async def test_a_reuse_does_not_end_the_users_other_sessions(system: LoginSystem) -> None:
    phone = await logged_in(system)
    laptop = await system.log_in("alice@example.com")
    await system.call(Refresh(phone.refresh_token or ""))
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(phone.refresh_token or ""))
    system.time.advance(1)
    answer: Tokens = await system.call(Refresh(laptop.refresh_token or ""))
    assert isinstance(answer, Tokens)


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b", "x" * 5000, "A" * 22 + "." + "B" * 43, "\ud800.\ud800"]
)
async def test_an_unknown_or_malformed_refresh_token_is_refused(
    system: LoginSystem, token: str
) -> None:
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(token))
    assert system.front.received_nothing()


async def test_a_forged_secret_for_a_real_family_is_refused_without_ending_it(
    system: LoginSystem,
) -> None:
    tokens = await logged_in(system)
    family = (tokens.refresh_token or "").split(".")[0]
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(f"{family}.{'A' * 43}"))
    answer: Tokens = await system.call(Refresh(tokens.refresh_token or ""))
    assert isinstance(answer, Tokens)


async def test_a_refresh_family_expires_and_rotation_does_not_extend_it(
    system: LoginSystem,
) -> None:
    tokens = await logged_in(system)
    ttl = system.config.refresh_ttl
    system.time.advance(ttl - 10)
    renewed = await system.call(Refresh(tokens.refresh_token or ""))
    system.time.advance(10)
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(renewed.refresh_token or ""))


async def test_logout_revokes_the_access_token_at_the_fronts_and_ends_the_session(
    system: LoginSystem,
) -> None:
    tokens = await logged_in(system)
    other = await system.log_in("alice@example.com")
    await system.as_user(tokens, Logout(refresh_token=tokens.refresh_token))

    changed = await system.revocations_pushed()
    claims = (await system.verifier()).verify(other.access_token)  # other sessions live on
    assert claims["jti"] not in changed.snapshot["tokens"]
    with pytest.raises(InvalidToken) as invalid:
        await system.verify(tokens.access_token)
    assert invalid.value.problem is TokenProblem.REVOKED
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(tokens.refresh_token or ""))
    answer: Tokens = await system.call(Refresh(other.refresh_token or ""))
    assert isinstance(answer, Tokens)


async def test_logout_everywhere_ends_every_session(system: LoginSystem) -> None:
    phone = await logged_in(system)
    laptop = await system.log_in("alice@example.com")
    await system.as_user(laptop, Logout(everywhere=True))
    await system.revocations_pushed()
    for tokens in (phone, laptop):
        with pytest.raises(InvalidToken):
            await system.verify(tokens.access_token)
        with pytest.raises(InvalidRefreshToken):
            await system.call(Refresh(tokens.refresh_token or ""))
    system.time.advance(1)
    assert isinstance(await system.log_in("alice@example.com"), Tokens)  # logging in again works


async def test_logout_cannot_end_another_users_session(system: LoginSystem) -> None:
    alice = await logged_in(system, "alice@example.com")
    mallory = await logged_in(system, "mallory@example.com")
    await system.as_user(mallory, Logout(refresh_token=alice.refresh_token))
    answer: Tokens = await system.call(Refresh(alice.refresh_token or ""))
    assert isinstance(answer, Tokens)


async def test_authenticated_flows_refuse_a_caller_without_claims(system: LoginSystem) -> None:
    messages: tuple[Request[Any], ...] = (Logout(), WhoAmI(), SwitchAccount("acct-x"))
    for message in messages:
        with pytest.raises(Unauthenticated):
            await system.call(message)


async def test_a_token_whose_scope_does_not_cover_the_login_flows_is_refused(
    system: LoginSystem,
) -> None:
    tokens = await logged_in(system)
    claims = await system.verify(tokens.access_token)
    with pytest.raises(Forbidden):
        await system.call(WhoAmI(), claims={**claims, "scope": "notes:read"})
    me = await system.call(WhoAmI(), claims={**claims, "scope": "login:*"})
    assert me.user == claims["sub"]


async def shared_account(system: LoginSystem, owner_tokens: Tokens, member: str) -> str:
    """An account owned by the caller of ``owner_tokens`` with ``member`` as a member."""
    owner = (await system.verify(owner_tokens.access_token))["sub"]
    account = await create_account(system.store, name="Team", owner=owner)
    await system.store.put(
        Record(
            membership_id(account, member),
            MEMBERSHIP.name,
            {"account": account, "user": member, "role": "member"},
        )
    )
    return account


async def test_switching_to_an_account_of_the_user_answers_tokens_for_it(
    system: LoginSystem,
) -> None:
    alice = await logged_in(system, "alice@example.com")
    bob = await logged_in(system, "bob@example.com")
    bob_id = (await system.verify(bob.access_token))["sub"]
    team = await shared_account(system, alice, bob_id)

    switched = await system.as_user(bob, SwitchAccount(team))
    assert switched.account == team
    assert switched.refresh_token is None  # an access token alone never mints a session
    claims = await system.verify(switched.access_token)
    assert (claims["sub"], claims["acct"], claims["roles"]) == (bob_id, team, ["member"])

    with_session = await system.as_user(bob, SwitchAccount(team, bob.refresh_token))
    assert with_session.refresh_token is not None
    renewed = await system.call(Refresh(with_session.refresh_token))
    assert renewed.account == team  # the session now acts in the team account
    with pytest.raises(InvalidRefreshToken):
        await system.call(Refresh(bob.refresh_token or ""))  # rotated by the switch


async def test_switching_to_an_account_the_user_is_not_a_member_of_is_forbidden(
    system: LoginSystem,
) -> None:
    alice = await logged_in(system, "alice@example.com")
    mallory = await logged_in(system, "mallory@example.com")
    for target in (alice.account, "acct-does-not-exist"):
        with pytest.raises(Forbidden) as refused:
            await system.as_user(mallory, SwitchAccount(target))
        assert str(refused.value) == "you are not a member of this account"


async def test_switching_with_someone_elses_refresh_token_is_refused(
    system: LoginSystem,
) -> None:
    alice = await logged_in(system, "alice@example.com")
    mallory = await logged_in(system, "mallory@example.com")
    with pytest.raises(InvalidRefreshToken):
        await system.as_user(mallory, SwitchAccount(mallory.account, alice.refresh_token))
    answer: Tokens = await system.call(Refresh(alice.refresh_token or ""))
    assert isinstance(answer, Tokens)


async def test_a_removed_member_is_refreshed_into_an_account_they_still_belong_to(
    system: LoginSystem,
) -> None:
    alice = await logged_in(system, "alice@example.com")
    bob = await logged_in(system, "bob@example.com")
    bob_id = (await system.verify(bob.access_token))["sub"]
    team = await shared_account(system, alice, bob_id)
    in_team = await system.as_user(bob, SwitchAccount(team, bob.refresh_token))
    membership = await system.store.get(membership_id(team, bob_id))
    await system.store.delete(membership.id, membership.rev or "")
    renewed = await system.call(Refresh(in_team.refresh_token or ""))
    assert renewed.account == bob.account
    assert (await system.verify(renewed.access_token))["roles"] == ["owner"]


async def test_who_am_i_lists_the_users_accounts(system: LoginSystem) -> None:
    tokens = await logged_in(system)
    me = await system.as_user(tokens, WhoAmI())
    assert me.email == "alice@example.com"
    assert me.account == tokens.account
    assert [(a.account, a.roles) for a in me.accounts] == [(tokens.account, ("owner",))]
    assert me.mfa_enabled is False


async def test_the_signing_keys_and_revocations_survive_a_restart(system: LoginSystem) -> None:
    tokens = await logged_in(system)
    other = await system.log_in("alice@example.com")
    await system.as_user(other, Logout())
    jwks = await system.call(Jwks())
    revoked = await system.call(Revocations())

    await system.restart()
    assert await system.call(Jwks()) == jwks
    assert await system.call(Revocations()) == revoked
    assert (await system.verify(tokens.access_token))["sub"]
    answer: Tokens = await system.call(Refresh(tokens.refresh_token or ""))
    assert isinstance(answer, Tokens)


async def test_rotating_the_signing_key_keeps_tokens_of_the_previous_key_valid(
    system: LoginSystem,
) -> None:
    before = await logged_in(system)
    old_kids = {k["kid"] for k in (await system.call(Jwks()))["keys"]}
    kid = await system.call(RotateSigningKey())
    assert kid not in old_kids
    after = await system.log_in("alice@example.com")
    verifier = await system.verifier()
    verifier.verify(before.access_token)
    verifier.verify(after.access_token)
    await system.restart()
    assert kid in {k["kid"] for k in (await system.call(Jwks()))["keys"]}


async def test_rotation_retires_keys_beyond_the_configured_number(system: LoginSystem) -> None:
    first = await logged_in(system)
    for _ in range(system.config.max_signing_keys):
        await system.call(RotateSigningKey())
    assert len((await system.call(Jwks()))["keys"]) == system.config.max_signing_keys
    with pytest.raises(InvalidToken) as invalid:
        await system.verify(first.access_token)
    assert invalid.value.problem is TokenProblem.UNKNOWN_KID


async def test_signing_keys_are_rotated_by_operators_only(system: LoginSystem) -> None:
    tokens = await logged_in(system)
    with pytest.raises(Forbidden):
        await system.as_user(tokens, RotateSigningKey())
