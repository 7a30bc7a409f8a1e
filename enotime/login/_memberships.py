"""Accounts and memberships in the encrypted store: who belongs where, with which role.

An *account* is what a token's ``acct`` claim names: a tenant several users
share, each with one role in it. The login actor calls :func:`create_account`
at registration and :func:`roles_of` / :func:`accounts_of` when it issues a
token; the accounts actor (``enotime.login._accounts``) manages the rest.

What the store keeps, and what a copy of the database shows:

- ``account``: the name, sealed (private). Nothing else.
- ``membership``: ``account``, ``user`` and ``role`` in plain text (indexed),
  so ``find`` can answer "members of A" and "accounts of U". They are opaque
  random ids and one of three role names: nothing personal. The document id is
  derived from the pair, so a user is a member of an account at most once.
- ``invitation``: ``account``, ``role``, ``state``, ``inviter``, ``expires_at``
  in plain text; the invitee's ``email`` private (sealed, and blind-indexed as a
  keyed HMAC); the ``token_hash`` (SHA-256 of the mailed token) private and
  blind-indexed too, so a copy of the database cannot even confirm a token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

from enotime.login._accounts_errors import InvalidAccountName, InvalidRole, UnknownAccount
from enotime.store import DocumentType, NotFound, Record, StoreClient

__all__ = [
    "ACCOUNT",
    "ACCOUNT_PERMISSIONS",
    "DOCUMENT_TYPES",
    "INVITATION",
    "MAX_ACCOUNT_NAME",
    "MEMBERSHIP",
    "ROLES",
    "account_name",
    "accounts_of",
    "check_account_name",
    "check_role",
    "create_account",
    "get_membership",
    "members_of",
    "membership_id",
    "new_id",
    "roles_of",
]

ROLES: tuple[str, ...] = ("owner", "admin", "member")
"""The roles a user may hold in an account, strongest first."""

ACCOUNT_PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "owner": frozenset({"account:read", "account:invite", "account:manage", "account:delete"}),
        "admin": frozenset({"account:read", "account:invite", "account:manage"}),
        "member": frozenset({"account:read"}),
    }
)
"""Role -> the account permissions it grants (a ``Worker.role_permissions`` table)."""

ACCOUNT = DocumentType("account", key="accounts", index_key="accounts-index")
"""An account: ``{"name"}``, all sealed."""

MEMBERSHIP = DocumentType(
    "membership",
    public=frozenset({"account", "user", "role"}),
    indexed=frozenset({"account", "user"}),
    key="accounts",
    index_key="accounts-index",
)
"""One user's role in one account: ``{"account", "user", "role"}``, ids and role in plain text."""

INVITATION = DocumentType(
    "invitation",
    public=frozenset({"account", "role", "state", "inviter", "expires_at", "accepted_by"}),
    indexed=frozenset({"account", "state", "email", "token_hash"}),
    key="accounts",
    index_key="accounts-index",
)
"""An invitation: email and token hash private (blind-indexed), the rest plain."""

DOCUMENT_TYPES: tuple[DocumentType, ...] = (ACCOUNT, MEMBERSHIP, INVITATION)
"""Every document type of accounts: give them to the ``StoreService``."""

MAX_ACCOUNT_NAME = 100


def new_id(prefix: str) -> str:
    """A random, opaque document id such as ``acct-3f9c...`` (128 bits)."""
    return f"{prefix}-{secrets.token_hex(16)}"


def membership_id(account: str, user: str) -> str:
    """The id of ``user``'s membership in ``account``: one per pair, fixed length."""
    digest = hashlib.sha256(json.dumps([account, user]).encode()).hexdigest()
    return f"mbr-{digest}"


def check_role(role: object) -> str:
    """``role`` if it is one of :data:`ROLES`, else :class:`InvalidRole`."""
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidRole(f"role must be one of {', '.join(ROLES)}")
    return role


def check_account_name(name: object) -> str:
    """The name with surrounding spaces removed; :class:`InvalidAccountName` if unusable."""
    if not isinstance(name, str):
        raise InvalidAccountName("an account name must be text")
    name = name.strip()
    if not name:
        raise InvalidAccountName("an account name cannot be empty")
    if len(name) > MAX_ACCOUNT_NAME:
        raise InvalidAccountName(f"an account name has at most {MAX_ACCOUNT_NAME} characters")
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn"} for c in name):
        raise InvalidAccountName("an account name cannot hold control characters")
    return name


async def create_account(store: StoreClient, *, name: str, owner: str) -> str:
    """Create an account named ``name`` with ``owner`` as its owner; returns its id.

    Raises:
        InvalidAccountName: The name is empty, too long or holds control characters.
    """
    name = check_account_name(name)
    account = new_id("acct")
    await store.put(Record(account, ACCOUNT.name, {"name": name}))
    await store.put(
        Record(
            membership_id(account, owner),
            MEMBERSHIP.name,
            {"account": account, "user": owner, "role": "owner"},
        )
    )
    return account


async def account_name(store: StoreClient, account: str) -> str:
    """The (decrypted) name of ``account``; :class:`UnknownAccount` if there is none."""
    try:
        record = await store.get(account)
    except NotFound:
        raise UnknownAccount("no such account") from None
    name = record.fields.get("name")
    if record.type != ACCOUNT.name or not isinstance(name, str):
        raise UnknownAccount("no such account")
    return name


async def get_membership(store: StoreClient, account: str, user: str) -> Record | None:
    """``user``'s membership record in ``account`` (with its revision), or None."""
    try:
        record = await store.get(membership_id(account, user))
    except NotFound:
        return None
    # The id is derived from the pair; check the fields too, so a forged id cannot pass.
    fields = record.fields
    if (
        record.type != MEMBERSHIP.name
        or fields.get("account") != account
        or fields.get("user") != user
    ):
        return None
    return record


async def roles_of(store: StoreClient, user: str, account: str) -> list[str]:
    """``user``'s roles in ``account`` (one role today); ``[]`` when not a member."""
    record = await get_membership(store, account, user)
    if record is None:
        return []
    return [check_role(record.fields.get("role"))]


async def accounts_of(store: StoreClient, user: str) -> list[tuple[str, list[str]]]:
    """Every account ``user`` belongs to, as ``(account id, roles)``, ordered by account id."""
    records = await store.find(MEMBERSHIP.name, user=user)
    found = [
        (str(r.fields["account"]), [check_role(r.fields.get("role"))])
        for r in records
        if isinstance(r.fields.get("account"), str)
    ]
    return sorted(found)


async def members_of(store: StoreClient, account: str) -> list[tuple[str, str]]:
    """Every member of ``account`` as ``(user id, role)``, ordered by user id."""
    records = await store.find(MEMBERSHIP.name, account=account)
    found = [
        (str(r.fields["user"]), check_role(r.fields.get("role")))
        for r in records
        if isinstance(r.fields.get("user"), str)
    ]
    return sorted(found)
