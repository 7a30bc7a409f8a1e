"""Single-use, expiring tokens: mailed links and MFA challenges, stored hashed.

A token is 256 random bits; the store keeps only its SHA-256, in the document
id, together with the token's purpose -- so a reset token presented as a
verification token is simply not found. Consuming deletes the document at the
revision that was read: of two concurrent uses exactly one wins (the store's
revision check), the other gets :class:`InvalidOrExpiredToken`.
"""

from __future__ import annotations

from enum import StrEnum

from enotime.login._errors import InvalidOrExpiredToken
from enotime.login._records import TOKEN, new_secret, token_digest
from enotime.store import Conflict, JsonValue, NotFound, Record, StoreClient

__all__ = ["MAX_TOKEN_CHARS", "Purpose", "consume", "issue", "open_token", "spend"]

MAX_TOKEN_CHARS = 128
"""Anything longer is not one of ours: refused before hashing or looking up."""


class Purpose(StrEnum):
    """What a single-use token is for."""

    VERIFY_EMAIL = "verify"
    RESET_PASSWORD = "reset"
    MFA_CHALLENGE = "mfa"


def _doc_id(purpose: Purpose, token: str) -> str:
    return f"tok-{token_digest(f'{purpose.value}:{token}')}"


async def issue(
    store: StoreClient,
    purpose: Purpose,
    user: str,
    *,
    expires_at: float,
    extra: dict[str, JsonValue] | None = None,
) -> str:
    """Store a new token's hash for ``user`` and return the token itself."""
    token = new_secret()
    fields: dict[str, JsonValue] = {
        "purpose": purpose.value,
        "user": user,
        "expires_at": expires_at,
        **(extra or {}),
    }
    await store.put(Record(_doc_id(purpose, token), TOKEN.name, fields))
    return token


async def open_token(store: StoreClient, purpose: Purpose, token: object, *, now: float) -> Record:
    """The live record of ``token`` without spending it.

    Raises:
        InvalidOrExpiredToken: Unknown, already spent, of another purpose or
            expired (an expired one is deleted on the way).
    """
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise InvalidOrExpiredToken
    try:
        record = await store.get(_doc_id(purpose, token))
    except NotFound:
        raise InvalidOrExpiredToken from None
    fields = record.fields
    expires_at = fields.get("expires_at")
    if (
        record.type != TOKEN.name
        or fields.get("purpose") != purpose.value
        or not isinstance(fields.get("user"), str)
        or not isinstance(expires_at, int | float)
    ):
        raise InvalidOrExpiredToken
    if now >= expires_at:
        await spend(store, record)
        raise InvalidOrExpiredToken
    return record


async def spend(store: StoreClient, record: Record) -> None:
    """Delete a token's record; :class:`InvalidOrExpiredToken` if someone spent it first."""
    if record.rev is None:
        raise InvalidOrExpiredToken
    try:
        await store.delete(record.id, record.rev)
    except (Conflict, NotFound):
        raise InvalidOrExpiredToken from None


async def consume(store: StoreClient, purpose: Purpose, token: object, *, now: float) -> str:
    """Spend a live token and return the user it was issued for."""
    record = await open_token(store, purpose, token, now=now)
    await spend(store, record)
    return str(record.fields["user"])
