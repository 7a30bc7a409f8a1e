"""The users in the store: found by their address's keyed lookup, read, written, created."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from enotime.auth import Unauthenticated
from enotime.login._collaborators import Collaborators
from enotime.login._config import LoginConfig
from enotime.login._identity import Email
from enotime.login._memberships import create_account
from enotime.login._records import DECOY_ID, USER, new_user_id
from enotime.login._users import User
from enotime.store import JsonValue, NotFound, Record

__all__ = ["UserDirectory"]

log = logging.getLogger("enotime.login")


class UserDirectory:
    """The login actor's users, kept in the store with their address sealed.

    Args:
        config: The crypto keys of the addresses and their lookup, the personal account's name.
        clock: Wall-clock seconds since the epoch (a user's ``created_at``).
        actors: The store and crypto actors.
    """

    def __init__(
        self, config: LoginConfig, clock: Callable[[], float], actors: Collaborators
    ) -> None:
        self._config = config
        self._clock = clock
        self._actors = actors

    async def lookup(self, email: Email) -> str:
        """The keyed lookup value of an address (HMAC under the login actor's own key)."""
        crypto = self._actors.crypto
        return await crypto.hmac(self._config.lookup_key, email.lookup.encode("utf-8"))

    async def find(self, lookup: str) -> User | None:
        """The user whose address has the lookup value ``lookup``, if any."""
        found = await self._actors.store.find(USER.name, email_lookup=lookup)
        return User(found[0]) if found else None

    async def find_email(self, email: Email) -> User | None:
        """The user of the address ``email``, if any."""
        return await self.find(await self.lookup(email))

    async def get(self, user_id: str) -> User | None:
        """The user ``user_id``, or None if there is none (or the id is not a user's)."""
        try:
            record = await self._actors.store.get(user_id)
        except NotFound:
            return None
        return User(record) if record.type == USER.name else None

    async def caller(self, claims: Mapping[str, Any]) -> User:
        """The user the verified ``claims`` were issued to; ``Unauthenticated`` if gone."""
        user = await self.get(str(claims["sub"]))
        if user is None:
            raise Unauthenticated("this user no longer exists")
        return user

    async def save(self, record: Record) -> User:
        """Write ``record`` over the revision it was read at; the user as written."""
        rev = await self._actors.store.put(record, record.rev)
        return User(Record(record.id, record.type, record.fields, rev))

    async def address(self, user: User) -> str:
        """The user's email address, unsealed."""
        crypto = self._actors.crypto
        return (await crypto.decrypt(self._config.email_key, user.email)).decode("utf-8")

    async def create(self, email: Email, lookup: str, hashed: str, *, verified: bool) -> str:
        """Create a user and their personal account; returns the new user's id."""
        store, user_id = self._actors.store, new_user_id()
        account = await create_account(
            store, name=self._config.personal_account_name, owner=user_id
        )
        sealed = await self._actors.crypto.encrypt(
            self._config.email_key, email.address.encode("utf-8")
        )
        fields: dict[str, JsonValue] = {
            "email_lookup": lookup,
            "email": sealed,
            "password": hashed,
            "verified": verified,
            "created_at": self._clock(),
            "failures": 0,
            "locked_until": 0,
            "epoch": 0,
            "account": account,
            "mfa": None,
        }
        await store.put(Record(user_id, USER.name, fields))
        log.info("login: registered user %s", user_id)
        return user_id

    async def ensure_decoy(self) -> None:
        """Write the decoy user record unless it exists (see ``_records``)."""
        store = self._actors.store
        try:
            await store.get(DECOY_ID)
        except NotFound:
            await store.put(Record(DECOY_ID, USER.name, _decoy_fields(self._clock())))


def _decoy_fields(now: float) -> dict[str, JsonValue]:
    """A user record's shape with nothing in it: written when a login fails for no user."""
    return {
        "email_lookup": f"decoy-{secrets.token_urlsafe(32)}",  # never an HMAC: never found
        "email": f"enotime:v1:{secrets.token_urlsafe(64)}",
        "password": f"$argon2id$v=19$m=19456,t=2,p=1${secrets.token_urlsafe(64)}",
        "verified": False,
        "created_at": now,
        "failures": 0,
        "locked_until": 0,
        "epoch": 0,
        "account": f"acct-{secrets.token_hex(16)}",
        "mfa": None,
    }
