"""The accounts actor on a real node: who may create, invite, join, promote and remove whom.

Each call carries the claims the login actor's TokenSigner would issue for the
caller in one account (their roles read from the store, scope ``*``), unless
a test forges them on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from enotime import RequestContext, request_context
from enotime.auth import Forbidden, Unauthenticated
from enotime.login._accounts_errors import (
    AccountsUnavailable,
    AlreadyMember,
    InvalidAccountName,
    InvalidInvitation,
    InvalidInviteeEmail,
    InvalidRole,
    InvitationProblem,
    LastOwner,
    NotAMember,
)
from enotime.login._accounts_messages import (
    AcceptInvite,
    AccountInfo,
    AccountList,
    ChangeRole,
    CreateAccount,
    Invitation,
    Invite,
    ListMembers,
    ListMyAccounts,
    Member,
    MemberList,
    RemoveMember,
)
from enotime.login._memberships import roles_of
from enotime.messages import Request
from enotime.transport import default_registry

from ._world import World, token_in

DAY = 24 * 3600.0


@pytest.fixture
async def acme(world: World) -> str:
    """Acme, owned by ada, with bob as admin and carol as member."""
    account = await world.create("ada", "Acme")
    await world.join("bob", account, "admin")
    await world.join("carol", account, "member")
    return account


# -- creating and listing ------------------------------------------------------------------


async def test_whoever_creates_an_account_owns_it(world: World) -> None:
    info = await world.call("ada", CreateAccount("  Acme Ltd "))

    assert info == AccountInfo(info.account, "Acme Ltd", "owner")
    assert await roles_of(world.store, "ada", info.account) == ["owner"]


async def test_a_user_lists_the_accounts_they_belong_to_with_their_role(
    world: World, acme: str
) -> None:
    home = await world.create("carol", "Carol's")

    mine = await world.call("carol", ListMyAccounts())

    assert mine == AccountList(
        tuple(
            sorted(
                [AccountInfo(acme, "Acme", "member"), AccountInfo(home, "Carol's", "owner")],
                key=lambda info: info.account,
            )
        )
    )
    assert await world.call("dave", ListMyAccounts()) == AccountList(())


async def test_members_see_who_else_is_in_the_account(world: World, acme: str) -> None:
    members = await world.call("carol", ListMembers(acme), account=acme)

    assert members == MemberList(
        acme, (Member("ada", "owner"), Member("bob", "admin"), Member("carol", "member"))
    )


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "two\nlines"])
async def test_an_unusable_account_name_is_refused(world: World, name: str) -> None:
    with pytest.raises(InvalidAccountName):
        await world.call("ada", CreateAccount(name))
    assert await world.call("ada", ListMyAccounts()) == AccountList(())


# -- inviting and accepting ----------------------------------------------------------------


async def test_an_invitation_is_mailed_and_accepting_it_joins_with_the_role(
    world: World,
) -> None:
    account = await world.create("ada", "Acme")

    sent = await world.call("ada", Invite(account, "Dave@Example.COM", "member"), account=account)
    mail = await world.mail()
    token = token_in(mail)
    joined = await world.call("dave", AcceptInvite(token))

    assert sent == Invitation(sent.invitation, account, "member", world.clock.now + 7 * DAY)
    assert mail.to == "Dave@example.com"  # normalised: the domain in lower case
    assert "Acme" in mail.subject
    assert f"/accounts/invitations/accept?token={token}" in mail.text
    assert token not in repr(sent)  # only the mail carries the token
    assert joined == AccountInfo(account, "Acme", "member")
    assert await roles_of(world.store, "dave", account) == ["member"]


async def test_an_admin_invites_members_and_admins_but_not_owners(world: World, acme: str) -> None:
    await world.invite("bob", acme, "erin@example.com", "admin")

    with pytest.raises(Forbidden, match="only an owner can invite an owner"):
        await world.call("bob", Invite(acme, "frank@example.com", "owner"), account=acme)
    assert world.mailer.received_nothing()


async def test_an_owner_may_invite_another_owner(world: World, acme: str) -> None:
    await world.join("erin", acme, "owner")

    assert await roles_of(world.store, "erin", acme) == ["owner"]


async def test_a_member_cannot_invite(world: World, acme: str) -> None:
    with pytest.raises(Forbidden, match="account:invite"):
        await world.call("carol", Invite(acme, "mallory@example.com", "member"), account=acme)
    assert world.mailer.received_nothing()


async def test_an_invitation_token_is_single_use(world: World, acme: str) -> None:
    token = await world.invite("ada", acme, "dave@example.com", "member")
    await world.call("dave", AcceptInvite(token))

    with pytest.raises(InvalidInvitation) as again:
        await world.call("mallory", AcceptInvite(token))

    assert again.value.problem is InvitationProblem.USED
    assert await roles_of(world.store, "mallory", acme) == []


async def test_an_invitation_expires(world: World, acme: str) -> None:
    token = await world.invite("ada", acme, "dave@example.com", "member")
    world.clock.now += 7 * DAY

    with pytest.raises(InvalidInvitation) as late:
        await world.call("dave", AcceptInvite(token))

    assert late.value.problem is InvitationProblem.EXPIRED
    assert await roles_of(world.store, "dave", acme) == []


async def test_an_invitation_is_still_good_just_before_it_expires(world: World, acme: str) -> None:
    token = await world.invite("ada", acme, "dave@example.com", "member")
    world.clock.now += 7 * DAY - 1

    assert (await world.call("dave", AcceptInvite(token))).role == "member"


@pytest.mark.parametrize("token", ["made-up", "", "x" * 500])
async def test_an_unknown_invitation_token_is_refused(world: World, acme: str, token: str) -> None:
    with pytest.raises(InvalidInvitation) as refused:
        await world.call("mallory", AcceptInvite(token))

    assert refused.value.problem is InvitationProblem.UNKNOWN


async def test_a_member_accepting_again_is_refused_and_the_token_stays_unused(
    world: World, acme: str
) -> None:
    token = await world.invite("ada", acme, "carol.work@example.com", "admin")

    with pytest.raises(AlreadyMember):
        await world.call("carol", AcceptInvite(token))

    assert await roles_of(world.store, "carol", acme) == ["member"]  # no promotion by the back door
    assert (await world.call("dave", AcceptInvite(token))).role == "admin"


async def test_invitations_check_the_role_and_the_address(world: World, acme: str) -> None:
    with pytest.raises(InvalidRole):
        await world.call("ada", Invite(acme, "dave@example.com", "superuser"), account=acme)
    with pytest.raises(InvalidInviteeEmail):
        await world.call("ada", Invite(acme, "not an address", "member"), account=acme)
    with pytest.raises(InvalidInviteeEmail):
        await world.call(
            "ada", Invite(acme, "dave@example.com\r\nBcc: x@y.z", "member"), account=acme
        )
    assert world.mailer.received_nothing()


async def test_without_a_mailer_no_invitation_is_made(world: World, acme: str) -> None:
    world.node.kill(world.mailer.ref)

    with pytest.raises(AccountsUnavailable):
        await world.call("ada", Invite(acme, "dave@example.com", "member"), account=acme)


# -- changing roles ------------------------------------------------------------------------


async def test_an_owner_promotes_a_member_and_the_next_token_carries_the_role(
    world: World, acme: str
) -> None:
    changed = await world.call("ada", ChangeRole(acme, "carol", "admin"), account=acme)

    assert changed == Member("carol", "admin")
    assert await roles_of(world.store, "carol", acme) == ["admin"]  # what the next token says
    await world.invite("carol", acme, "dave@example.com", "member")  # and it grants invite


async def test_an_admin_manages_members(world: World, acme: str) -> None:
    await world.call("bob", ChangeRole(acme, "carol", "admin"), account=acme)
    await world.call("bob", ChangeRole(acme, "carol", "member"), account=acme)

    assert await roles_of(world.store, "carol", acme) == ["member"]


async def test_a_member_cannot_change_roles(world: World, acme: str) -> None:
    with pytest.raises(Forbidden, match="account:manage"):
        await world.call("carol", ChangeRole(acme, "carol", "owner"), account=acme)

    assert await roles_of(world.store, "carol", acme) == ["member"]


async def test_an_admin_cannot_promote_themselves_to_owner(world: World, acme: str) -> None:
    with pytest.raises(Forbidden, match="only an owner"):
        await world.call("bob", ChangeRole(acme, "bob", "owner"), account=acme)

    assert await roles_of(world.store, "bob", acme) == ["admin"]


async def test_an_admin_cannot_demote_an_owner(world: World, acme: str) -> None:
    with pytest.raises(Forbidden, match="only an owner"):
        await world.call("bob", ChangeRole(acme, "ada", "member"), account=acme)

    assert await roles_of(world.store, "ada", acme) == ["owner"]


async def test_the_last_owner_cannot_be_demoted(world: World, acme: str) -> None:
    with pytest.raises(LastOwner):
        await world.call("ada", ChangeRole(acme, "ada", "admin"), account=acme)

    assert await roles_of(world.store, "ada", acme) == ["owner"]


async def test_an_owner_may_step_down_once_there_is_another(world: World, acme: str) -> None:
    await world.call("ada", ChangeRole(acme, "bob", "owner"), account=acme)
    await world.call("ada", ChangeRole(acme, "ada", "member"), account=acme)

    assert await roles_of(world.store, "ada", acme) == ["member"]
    assert await roles_of(world.store, "bob", acme) == ["owner"]


async def test_changing_the_role_of_a_stranger_or_to_an_unknown_role_is_refused(
    world: World, acme: str
) -> None:
    with pytest.raises(NotAMember):
        await world.call("ada", ChangeRole(acme, "mallory", "member"), account=acme)
    with pytest.raises(InvalidRole):
        await world.call("ada", ChangeRole(acme, "carol", "root"), account=acme)


# -- removing members ----------------------------------------------------------------------


async def test_an_admin_removes_a_member(world: World, acme: str) -> None:
    await world.call("bob", RemoveMember(acme, "carol"), account=acme)

    assert await roles_of(world.store, "carol", acme) == []
    members = await world.call("ada", ListMembers(acme), account=acme)
    assert [m.user for m in members.members] == ["ada", "bob"]


async def test_a_member_may_leave_but_not_remove_others(world: World, acme: str) -> None:
    with pytest.raises(Forbidden, match="account:manage"):
        await world.call("carol", RemoveMember(acme, "bob"), account=acme)

    await world.call("carol", RemoveMember(acme, "carol"), account=acme)

    assert await roles_of(world.store, "carol", acme) == []
    assert await roles_of(world.store, "bob", acme) == ["admin"]


async def test_an_admin_cannot_remove_an_owner(world: World, acme: str) -> None:
    with pytest.raises(Forbidden, match="only an owner"):
        await world.call("bob", RemoveMember(acme, "ada"), account=acme)


async def test_the_last_owner_cannot_leave(world: World, acme: str) -> None:
    with pytest.raises(LastOwner):
        await world.call("ada", RemoveMember(acme, "ada"), account=acme)

    assert await roles_of(world.store, "ada", acme) == ["owner"]


async def test_removing_a_stranger_is_refused(world: World, acme: str) -> None:
    with pytest.raises(NotAMember):
        await world.call("ada", RemoveMember(acme, "mallory"), account=acme)


# -- the token's account, scope and freshness ----------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        lambda other: ListMembers(other),
        lambda other: Invite(other, "mallory@example.com", "owner"),
        lambda other: ChangeRole(other, "ada", "member"),
        lambda other: RemoveMember(other, "ada"),
    ],
    ids=["list", "invite", "change-role", "remove"],
)
async def test_a_token_of_one_account_cannot_act_on_another(
    world: World, acme: str, message: Callable[[str], Request[Any]]
) -> None:
    mine = await world.create("mallory", "Mallory's")
    mallory_as_owner = await roles_of(world.store, "mallory", mine)

    with pytest.raises(Forbidden, match="not valid for this account"):
        await world.call("mallory", message(acme), account=mine, roles=mallory_as_owner)

    assert await roles_of(world.store, "ada", acme) == ["owner"]
    assert world.mailer.received_nothing()


async def test_claimed_roles_do_not_outrank_the_stored_role(world: World, acme: str) -> None:
    # A forged or stale token says carol is owner: the stored role decides.
    with pytest.raises(Forbidden, match="does not grant account:manage"):
        await world.call("carol", ChangeRole(acme, "carol", "owner"), account=acme, roles=["owner"])


async def test_a_removed_member_is_refused_at_once_despite_a_live_token(
    world: World, acme: str
) -> None:
    await world.call("ada", RemoveMember(acme, "bob"), account=acme)

    with pytest.raises(Forbidden, match="not a member"):
        await world.call("bob", ListMembers(acme), account=acme, roles=["admin"])
    with pytest.raises(Forbidden, match="not a member"):
        await world.call(
            "bob", Invite(acme, "x@example.com", "admin"), account=acme, roles=["admin"]
        )


async def test_without_claims_every_request_is_unauthenticated(world: World, acme: str) -> None:
    for message in (CreateAccount("x"), ListMyAccounts(), AcceptInvite("t"), ListMembers(acme)):
        with pytest.raises(Unauthenticated):
            await world.accounts.call(message)
        with request_context(RequestContext("req-anon", {})), pytest.raises(Unauthenticated):
            await world.accounts.call(message)


async def test_a_token_whose_scope_does_not_cover_accounts_is_refused(
    world: World, acme: str
) -> None:
    with pytest.raises(Forbidden, match="scope"):
        await world.call("ada", ListMembers(acme), account=acme, scope="notes:*")
    with pytest.raises(Forbidden, match="scope"):
        await world.call("ada", CreateAccount("x"), scope="notes:*")
    assert (await world.call("ada", CreateAccount("y"), scope="account:*")).role == "owner"


async def test_when_the_store_is_down_the_answer_is_unavailable(world: World, acme: str) -> None:
    world.node.kill(world.node.lookup("store"))

    with pytest.raises(AccountsUnavailable):
        await world.call("ada", ListMembers(acme), account=acme, roles=["owner"])


# -- what a copy of the database shows -----------------------------------------------------


async def test_the_raw_store_holds_no_invitee_email_account_name_or_token(
    world: World, raw_store: Callable[[], str]
) -> None:
    account = await world.create("ada", "Zanzibar Trading")
    token = await world.invite("ada", account, "dorothea.brooke@example.com", "admin")
    await world.call("dave", AcceptInvite(token))

    copied = raw_store()
    assert account in copied  # ids and roles are public
    assert "admin" in copied
    for secret in ("Zanzibar", "dorothea", "brooke", token, token[:16]):
        assert secret not in copied


# -- the messages cross the wire -----------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Invite("acct-1", "a@example.com", "member"),
        MemberList("acct-1", (Member("u1", "owner"), Member("u2", "member"))),
        AccountList((AccountInfo("acct-1", "Acme", "owner"),)),
        RemoveMember("acct-1", "u2"),
    ],
)
def test_messages_and_replies_round_trip_through_the_wire_codec(message: object) -> None:
    wire = default_registry.dump(message)

    assert default_registry.load(wire["type"], wire["v"], wire["body"]) == message
