"""The membership helpers the login actor calls at registration and token issue."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from enotime.login._accounts_errors import InvalidAccountName, UnknownAccount
from enotime.login._memberships import (
    ACCOUNT_PERMISSIONS,
    ROLES,
    account_name,
    accounts_of,
    create_account,
    members_of,
    roles_of,
)
from enotime.store import StoreClient


async def test_the_creator_of_an_account_is_its_owner(store: StoreClient) -> None:
    account = await create_account(store, name="Acme Ltd", owner="user-ada")

    assert await roles_of(store, "user-ada", account) == ["owner"]
    assert await accounts_of(store, "user-ada") == [(account, ["owner"])]
    assert await members_of(store, account) == [("user-ada", "owner")]
    assert await account_name(store, account) == "Acme Ltd"


async def test_a_stranger_has_no_roles_and_no_accounts(store: StoreClient) -> None:
    account = await create_account(store, name="Acme", owner="user-ada")

    assert await roles_of(store, "user-bob", account) == []
    assert await roles_of(store, "user-ada", "acct-unknown") == []
    assert await accounts_of(store, "user-bob") == []


async def test_each_account_gets_a_fresh_opaque_id(store: StoreClient) -> None:
    first = await create_account(store, name="Home", owner="user-ada")
    second = await create_account(store, name="Home", owner="user-ada")

    assert first != second
    assert first.startswith("acct-")
    assert await accounts_of(store, "user-ada") == sorted([(first, ["owner"]), (second, ["owner"])])


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\x00name", "line\nbreak"])
async def test_an_unusable_account_name_is_refused(store: StoreClient, name: str) -> None:
    with pytest.raises(InvalidAccountName):
        await create_account(store, name=name, owner="user-ada")


async def test_an_unknown_account_has_no_name(store: StoreClient) -> None:
    with pytest.raises(UnknownAccount):
        await account_name(store, "acct-missing")


async def test_the_account_name_is_not_stored_in_plain_text(
    store: StoreClient, raw_store: Callable[[], str]
) -> None:
    await create_account(store, name="Secret Squirrel Society", owner="user-ada")

    copied = raw_store()
    assert "owner" in copied  # the copy is readable: the role is public
    assert "Squirrel" not in copied


def test_roles_grant_account_permissions_from_strongest_to_weakest() -> None:
    assert ROLES == ("owner", "admin", "member")
    assert ACCOUNT_PERMISSIONS["member"] == {"account:read"}
    assert ACCOUNT_PERMISSIONS["admin"] == {"account:read", "account:invite", "account:manage"}
    assert ACCOUNT_PERMISSIONS["owner"] == ACCOUNT_PERMISSIONS["admin"] | {"account:delete"}
