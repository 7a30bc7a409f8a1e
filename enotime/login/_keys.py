"""The JWT signing keys, kept sealed in the store so every restart signs with the same ones.

The private keys are encrypted by the crypto actor under the login actor's
``secret_key`` before they go into a record (which the store seals again):
neither a copy of the database nor the store's own keys yield a signing key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from enotime.auth import JwtKeyring, TokenSigner
from enotime.crypto import CryptoClient
from enotime.login._collaborators import Collaborators
from enotime.login._config import LoginConfig
from enotime.login._records import KEYS_ID, STATE
from enotime.store import Conflict, JsonValue, NotFound, Record, StoreClient

__all__ = ["SigningKeys", "StoredKeyring", "load_keyring", "save_keyring"]

log = logging.getLogger("enotime.login")

StoredKeyring = tuple[JwtKeyring, str]
"""A keyring and the revision of the record it was read from or written to."""


async def load_keyring(store: StoreClient, crypto: CryptoClient, key: str) -> StoredKeyring | None:
    """The stored keyring and its revision, or None if none was stored yet."""
    try:
        record = await store.get(KEYS_ID)
    except NotFound:
        return None
    current, stored = record.fields.get("current"), record.fields.get("keys")
    if not isinstance(current, str) or not isinstance(stored, list):
        raise ValueError("the stored signing keys are not in the expected shape")
    kids: list[str] = []
    operations: list[tuple[str, tuple[object, ...]]] = []
    for entry in stored:
        if not isinstance(entry, dict):
            raise ValueError("the stored signing keys are not in the expected shape")
        kid, sealed = entry.get("kid"), entry.get("key")
        if not isinstance(kid, str) or not isinstance(sealed, str):
            raise ValueError("the stored signing keys are not in the expected shape")
        kids.append(kid)
        operations.append(("decrypt", (key, sealed)))
    raws = await crypto.batch(operations)
    assert record.rev is not None
    return JwtKeyring.from_keys(zip(kids, raws, strict=True), current=current), record.rev


async def save_keyring(
    store: StoreClient, crypto: CryptoClient, key: str, ring: JwtKeyring, rev: str | None
) -> str:
    """Seal and store ``ring`` over revision ``rev`` (None: first time); returns the new one."""
    exported = ring.export()
    sealed = await crypto.batch([("encrypt", (key, raw)) for _, raw in exported])
    keys: list[JsonValue] = [
        {"kid": kid, "key": ciphertext}
        for (kid, _), ciphertext in zip(exported, sealed, strict=True)
    ]
    fields: dict[str, JsonValue] = {"current": ring.current.kid, "keys": keys}
    return await store.put(Record(KEYS_ID, STATE.name, fields), rev)


class SigningKeys:
    """The login actor's signing keys and the signer that uses them.

    Args:
        config: The token's issuer, audience and lifetime; the key that seals
            the private keys; how many keys a rotation keeps.
        clock: Wall-clock seconds since the epoch (``iat`` and ``exp``).
        actors: The store and crypto actors the keys are kept with.
    """

    def __init__(
        self, config: LoginConfig, clock: Callable[[], float], actors: Collaborators
    ) -> None:
        self._config = config
        self._actors = actors
        self.keyring = JwtKeyring()  # replaced by the stored one in load
        self._rev: str | None = None
        self.signer = TokenSigner(
            self.keyring,
            issuer=config.issuer,
            audience=config.audience,
            access_ttl=config.access_ttl,
            clock=clock,
        )

    async def load(self, store: StoreClient, crypto: CryptoClient) -> None:
        """Sign with the stored keys; store this keyring first if there are none yet."""
        key = self._config.secret_key
        stored = await load_keyring(store, crypto, key)
        if stored is None:
            try:
                self._rev = await save_keyring(store, crypto, key, self.keyring, None)
            except Conflict:  # another login actor made the keys first: use those
                stored = await load_keyring(store, crypto, key)
        if stored is not None:
            self.keyring, self._rev = stored
        self.signer.keyring = self.keyring

    async def rotate(self) -> str:
        """Sign with a new key from now on, retire the oldest ones; returns the new kid."""
        kid = self.keyring.rotate()
        for old in self.keyring.kids[: -self._config.max_signing_keys]:
            self.keyring.retire(old)
        actors = self._actors
        self._rev = await save_keyring(
            actors.store, actors.crypto, self._config.secret_key, self.keyring, self._rev
        )
        log.info("login: signing with the new key %s", kid)
        return kid
