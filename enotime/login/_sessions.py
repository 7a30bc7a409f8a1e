"""Refresh-token families: opaque, stored hashed, rotated on every use, reuse detected.

A refresh token is ``<family>.<secret>``. The family -- one login and every
refresh that followed it -- is one store document holding the hash of the
live secret and the hashes of the spent ones. Refreshing replaces the live
hash (one write, checked against the revision read). Presenting a spent
secret means the token was copied: the whole family is revoked, and the
caller revokes the user's access tokens too (OAuth 2.0 Security BCP, 4.14).
A family lives ``refresh_ttl`` from its login; rotation does not extend it.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
from dataclasses import dataclass

from enotime.login._errors import InvalidRefreshToken
from enotime.login._records import SESSION, new_secret, token_digest
from enotime.store import Conflict, JsonValue, NotFound, Record, StoreClient

__all__ = ["MAX_USED", "ReuseDetected", "Session", "revoke", "rotate", "start"]

MAX_USED = 64
"""Spent hashes kept per family; an older spent token is merely invalid, not a detected reuse."""

_FAMILY = re.compile(r"[A-Za-z0-9_-]{22}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class Session:
    """One refresh-token family as the login actor sees it."""

    family: str
    user: str
    account: str
    amr: tuple[str, ...]
    epoch: int
    expires_at: float


class ReuseDetected(Exception):
    """A spent refresh token was presented: its family is now revoked.

    Internal to the login actor, which then revokes the user's access tokens
    and answers :class:`InvalidRefreshToken` like for any other dead token.
    """

    def __init__(self, session: Session) -> None:
        super().__init__("a spent refresh token was presented again")
        self.session = session


def _doc_id(family: str) -> str:
    return f"ses-{family}"


def _parse(token: object) -> tuple[str, str]:
    if not isinstance(token, str):
        raise InvalidRefreshToken
    family, _, secret = token.partition(".")
    if not _FAMILY.fullmatch(family) or not _SECRET.fullmatch(secret):
        raise InvalidRefreshToken
    return family, secret


def _session(record: Record) -> Session:
    f = record.fields
    amr = f.get("amr")
    user, account = f.get("user"), f.get("account")
    epoch, expires_at = f.get("epoch"), f.get("expires_at")
    if (
        record.type != SESSION.name
        or not isinstance(user, str)
        or not isinstance(account, str)
        or not isinstance(epoch, int)
        or not isinstance(expires_at, int | float)
        or not isinstance(amr, list)
    ):
        raise InvalidRefreshToken
    return Session(
        record.id.removeprefix("ses-"), user, account, tuple(map(str, amr)), epoch, expires_at
    )


async def start(
    store: StoreClient,
    *,
    user: str,
    account: str,
    amr: tuple[str, ...],
    epoch: int,
    expires_at: float,
) -> str:
    """Open a new family for a fresh login; returns its first refresh token."""
    family, secret = secrets.token_urlsafe(16), new_secret()
    fields: dict[str, JsonValue] = {
        "user": user,
        "account": account,
        "amr": list(amr),
        "epoch": epoch,
        "expires_at": expires_at,
        "current": token_digest(secret),
        "used": [],
        "revoked": False,
    }
    await store.put(Record(_doc_id(family), SESSION.name, fields))
    return f"{family}.{secret}"


async def rotate(
    store: StoreClient,
    token: object,
    *,
    now: float,
    account: str | None = None,
    owner: tuple[str, int] | None = None,
) -> tuple[Session, str]:
    """Spend ``token``; returns its family (moved to ``account`` if given) and the next token.

    With ``owner`` (user id, epoch), a token of another user or of an ended
    epoch is refused before anything changes.

    Raises:
        InvalidRefreshToken: Unknown, malformed, expired or revoked.
        ReuseDetected: A spent token of a live family; the family is revoked.
    """
    family, secret = _parse(token)
    try:
        record = await store.get(_doc_id(family))
    except NotFound:
        raise InvalidRefreshToken from None
    session = _session(record)
    fields = dict(record.fields)
    if fields.get("revoked") is not False or now >= session.expires_at:
        raise InvalidRefreshToken
    if owner is not None and (session.user, session.epoch) != owner:
        raise InvalidRefreshToken
    digest = token_digest(secret)
    current = fields.get("current")
    used = fields.get("used")
    if not isinstance(current, str) or not isinstance(used, list):
        raise InvalidRefreshToken
    if not hmac.compare_digest(digest, current):
        if any(isinstance(u, str) and hmac.compare_digest(digest, u) for u in used):
            fields["revoked"] = True
            # A conflict means it changed meanwhile (rotated or revoked): dead either way.
            with contextlib.suppress(Conflict):
                await store.put(Record(record.id, record.type, fields), record.rev)
            raise ReuseDetected(session)
        raise InvalidRefreshToken
    next_secret = new_secret()
    fields["current"] = token_digest(next_secret)
    fields["used"] = [*used, digest][-MAX_USED:]
    if account is not None:
        fields["account"] = account
        session = Session(
            session.family, session.user, account, session.amr, session.epoch, session.expires_at
        )
    try:
        await store.put(Record(record.id, record.type, fields), record.rev)
    except Conflict:
        raise InvalidRefreshToken from None  # refreshed concurrently: one use only
    return session, f"{family}.{next_secret}"


async def revoke(store: StoreClient, token: object, *, user: str) -> Session | None:
    """Revoke the family of ``token`` if it belongs to ``user``; None if there is nothing to do.

    Works with a spent token of the family too: logging out must not depend on
    holding the newest one.
    """
    try:
        family, _ = _parse(token)
        record = await store.get(_doc_id(family))
        session = _session(record)
    except (InvalidRefreshToken, NotFound):
        return None
    if session.user != user or record.fields.get("revoked") is not False:
        return None
    fields = {**record.fields, "revoked": True}
    try:
        await store.put(Record(record.id, record.type, fields), record.rev)
    except Conflict:
        return await revoke(store, token, user=user)
    return session
