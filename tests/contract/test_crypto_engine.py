"""The crypto port's contract: every engine behaves like Vault's transit engine.

Runs against the embedded engine always, and against a live Vault when
``VAULT_ADDR`` and ``VAULT_TOKEN`` are set (transit mounted at ``transit/``,
a token that may create keys). No Vault server can be installed on the
machines this project is built on, so there that parametrisation is skipped.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enotime import Node
from enotime.abc import CryptoEngine
from enotime.crypto import (
    CryptoClient,
    CryptoService,
    EmbeddedCryptoEngine,
    InvalidCiphertext,
    InvalidRequest,
    KeyNotFound,
    KeyType,
    KeyVersionDisallowed,
    MalformedCiphertext,
    WrongKeyType,
    parse_versioned,
)

NO_VAULT = "no Vault server can be installed on this machine; set VAULT_ADDR to run live"


@pytest.fixture(params=["embedded", "actor", "vault"])
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CryptoEngine]:
    if request.param in ("embedded", "actor"):
        embedded = EmbeddedCryptoEngine(tmp_path_factory.mktemp("crypto") / "keyring")
        shares = await embedded.initialize(shares=3, threshold=2)
        for share in shares[:2]:
            await embedded.submit_unseal_share(share)
        if request.param == "embedded":
            yield embedded
        else:  # the same engine behind the crypto actor, asked through messages
            async with Node("crypto-contract") as node:
                yield CryptoClient(await node.spawn(CryptoService, embedded))
        await embedded.aclose()
        return
    address, token = os.environ.get("VAULT_ADDR"), os.environ.get("VAULT_TOKEN")
    if not address or not token:
        pytest.skip(NO_VAULT)
    from enotime.crypto import VaultCryptoEngine

    vault = VaultCryptoEngine(address, token=token)
    yield vault
    await vault.aclose()


@pytest.fixture
def new_name() -> Callable[[], str]:
    """Fresh key names: a live Vault keeps keys between runs."""
    return lambda: f"contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def aes_key(engine: CryptoEngine, new_name: Callable[[], str]) -> str:
    name = new_name()
    await engine.create_key(name)
    return name


@pytest.fixture
async def signing_key(engine: CryptoEngine, new_name: Callable[[], str]) -> str:
    name = new_name()
    await engine.create_key(name, KeyType.ED25519)
    return name


def tamper(value: str) -> str:
    """Flip one bit in the payload of a versioned value, keeping it well-formed."""
    prefix, version, payload = parse_versioned(value)
    flipped = bytes([payload[0] ^ 1]) + payload[1:]
    return f"{prefix}:v{version}:{base64.b64encode(flipped).decode()}"


# -- encrypt / decrypt -----------------------------------------------------------------


async def test_encrypt_then_decrypt_gives_the_plaintext_back(
    engine: CryptoEngine, aes_key: str
) -> None:
    ciphertext = await engine.encrypt(aes_key, b"alice@example.org")
    assert b"alice" not in ciphertext.encode()
    assert await engine.decrypt(aes_key, ciphertext) == b"alice@example.org"


async def test_empty_plaintext_round_trips(engine: CryptoEngine, aes_key: str) -> None:
    assert await engine.decrypt(aes_key, await engine.encrypt(aes_key, b"")) == b""


async def test_ciphertext_carries_its_key_version(engine: CryptoEngine, aes_key: str) -> None:
    assert parse_versioned(await engine.encrypt(aes_key, b"x")).version == 1


async def test_same_plaintext_encrypts_differently_each_time(
    engine: CryptoEngine, aes_key: str
) -> None:
    assert await engine.encrypt(aes_key, b"same") != await engine.encrypt(aes_key, b"same")


async def test_tampered_ciphertext_is_invalid(engine: CryptoEngine, aes_key: str) -> None:
    ciphertext = await engine.encrypt(aes_key, b"secret")
    with pytest.raises(InvalidCiphertext) as caught:
        await engine.decrypt(aes_key, tamper(ciphertext))
    assert type(caught.value) is InvalidCiphertext


async def test_malformed_ciphertext_is_malformed(engine: CryptoEngine, aes_key: str) -> None:
    for garbage in ["", "hello", "vault:1:abc", "enotime:vX:abc", "enotime:v1:***"]:
        with pytest.raises(MalformedCiphertext):
            await engine.decrypt(aes_key, garbage)


async def test_ciphertext_of_another_key_is_invalid(
    engine: CryptoEngine, aes_key: str, new_name: Callable[[], str]
) -> None:
    other = new_name()
    await engine.create_key(other)
    with pytest.raises(InvalidCiphertext):
        await engine.decrypt(other, await engine.encrypt(aes_key, b"secret"))


async def test_unknown_key_is_key_not_found(
    engine: CryptoEngine, aes_key: str, new_name: Callable[[], str]
) -> None:
    ciphertext = await engine.encrypt(aes_key, b"x")
    missing = new_name()
    with pytest.raises(KeyNotFound):
        await engine.decrypt(missing, ciphertext)
    with pytest.raises(KeyNotFound):
        await engine.key_info(missing)
    with pytest.raises(KeyNotFound):
        await engine.rotate(missing)


# -- rotation, rewrap, minimum decryption version --------------------------------------


async def test_rotation_keeps_old_ciphertexts_readable_and_rewrap_moves_them_up(
    engine: CryptoEngine, aes_key: str
) -> None:
    old = await engine.encrypt(aes_key, b"profile")
    assert await engine.rotate(aes_key) == 2
    new = await engine.encrypt(aes_key, b"profile")
    assert parse_versioned(new).version == 2
    assert await engine.decrypt(aes_key, old) == b"profile"

    rewrapped = await engine.rewrap(aes_key, old)
    assert parse_versioned(rewrapped).version == 2
    assert await engine.decrypt(aes_key, rewrapped) == b"profile"


async def test_min_decryption_version_refuses_older_ciphertexts_reversibly(
    engine: CryptoEngine, aes_key: str
) -> None:
    old = await engine.encrypt(aes_key, b"note")
    await engine.rotate(aes_key)
    await engine.set_min_decryption_version(aes_key, 2)

    with pytest.raises(KeyVersionDisallowed):
        await engine.decrypt(aes_key, old)
    with pytest.raises(KeyVersionDisallowed):
        await engine.rewrap(aes_key, old)
    info = await engine.key_info(aes_key)
    assert (info.latest_version, info.min_decryption_version, info.versions) == (2, 2, (2,))

    await engine.set_min_decryption_version(aes_key, 1)  # a policy, not an erasure
    assert await engine.decrypt(aes_key, old) == b"note"


async def test_min_decryption_version_above_latest_is_refused(
    engine: CryptoEngine, aes_key: str
) -> None:
    with pytest.raises(InvalidRequest):
        await engine.set_min_decryption_version(aes_key, 2)


async def test_key_info_describes_a_new_key(engine: CryptoEngine, aes_key: str) -> None:
    info = await engine.key_info(aes_key)
    assert info.name == aes_key
    assert info.type is KeyType.AES256_GCM96
    assert not info.derived
    assert (info.latest_version, info.min_decryption_version, info.versions) == (1, 1, (1,))


async def test_creating_an_existing_key_changes_nothing(engine: CryptoEngine, aes_key: str) -> None:
    ciphertext = await engine.encrypt(aes_key, b"kept")
    await engine.create_key(aes_key)
    assert await engine.decrypt(aes_key, ciphertext) == b"kept"
    assert (await engine.key_info(aes_key)).latest_version == 1


# -- derived keys (context) ------------------------------------------------------------


async def test_derived_key_binds_ciphertext_to_its_context(
    engine: CryptoEngine, new_name: Callable[[], str]
) -> None:
    name = new_name()
    await engine.create_key(name, derived=True)
    assert (await engine.key_info(name)).derived
    ciphertext = await engine.encrypt(name, b"tenant data", context=b"tenant-1")
    assert await engine.decrypt(name, ciphertext, context=b"tenant-1") == b"tenant data"
    with pytest.raises(InvalidCiphertext):
        await engine.decrypt(name, ciphertext, context=b"tenant-2")

    await engine.rotate(name)
    rewrapped = await engine.rewrap(name, ciphertext, context=b"tenant-1")
    assert await engine.decrypt(name, rewrapped, context=b"tenant-1") == b"tenant data"


async def test_derived_key_requires_a_context(
    engine: CryptoEngine, new_name: Callable[[], str]
) -> None:
    name = new_name()
    await engine.create_key(name, derived=True)
    with pytest.raises(InvalidRequest):
        await engine.encrypt(name, b"x")


# -- data keys -------------------------------------------------------------------------


async def test_data_key_is_usable_with_raw_aesgcm_and_unwraps_to_itself(
    engine: CryptoEngine, aes_key: str
) -> None:
    plaintext_key, wrapped = await engine.generate_data_key(aes_key)
    assert len(plaintext_key) == 32
    assert parse_versioned(wrapped).version == 1

    nonce = os.urandom(12)
    sealed = AESGCM(plaintext_key).encrypt(nonce, b"document body", b"doc-id")
    recovered = await engine.decrypt(aes_key, wrapped)
    assert AESGCM(recovered).decrypt(nonce, sealed, b"doc-id") == b"document body"


@pytest.mark.parametrize("bits", [128, 512])
async def test_data_key_has_the_requested_size(
    engine: CryptoEngine, aes_key: str, bits: int
) -> None:
    data_key = await engine.generate_data_key(aes_key, bits=bits)
    assert len(data_key.plaintext) == bits // 8


async def test_data_key_of_an_unsupported_size_is_refused(
    engine: CryptoEngine, aes_key: str
) -> None:
    with pytest.raises(InvalidRequest):
        await engine.generate_data_key(aes_key, bits=100)


# -- HMAC ------------------------------------------------------------------------------


async def test_hmac_is_stable_per_version_and_changes_after_rotation(
    engine: CryptoEngine, aes_key: str
) -> None:
    first = await engine.hmac(aes_key, b"alice@example.org")
    assert first == await engine.hmac(aes_key, b"alice@example.org")
    assert first != await engine.hmac(aes_key, b"bob@example.org")
    assert parse_versioned(first).version == 1

    await engine.rotate(aes_key)
    second = await engine.hmac(aes_key, b"alice@example.org")
    assert parse_versioned(second).version == 2
    assert parse_versioned(second).payload != parse_versioned(first).payload
    assert await engine.verify_hmac(aes_key, b"alice@example.org", first)
    assert await engine.verify_hmac(aes_key, b"alice@example.org", second)


async def test_verify_hmac_rejects_other_data_and_tampered_values(
    engine: CryptoEngine, aes_key: str
) -> None:
    mac = await engine.hmac(aes_key, b"data")
    assert not await engine.verify_hmac(aes_key, b"other", mac)
    assert not await engine.verify_hmac(aes_key, b"data", tamper(mac))
    with pytest.raises(MalformedCiphertext):
        await engine.verify_hmac(aes_key, b"data", "not-an-hmac")


# -- signatures ------------------------------------------------------------------------


async def test_sign_then_verify(engine: CryptoEngine, signing_key: str) -> None:
    signature = await engine.sign(signing_key, b"header.payload")
    assert parse_versioned(signature).version == 1
    assert await engine.verify(signing_key, b"header.payload", signature)
    assert not await engine.verify(signing_key, b"header.other", signature)
    assert not await engine.verify(signing_key, b"header.payload", tamper(signature))


async def test_public_keys_verify_signatures_without_the_engine(
    engine: CryptoEngine, signing_key: str
) -> None:
    signature = await engine.sign(signing_key, b"jwt")
    await engine.rotate(signing_key)
    newer = await engine.sign(signing_key, b"jwt")

    public = await engine.public_keys(signing_key)
    assert sorted(public) == [1, 2]
    for value in (signature, newer):
        _, version, raw = parse_versioned(value)
        Ed25519PublicKey.from_public_bytes(public[version]).verify(raw, b"jwt")  # raises if bad


async def test_keys_refuse_operations_of_the_other_type(
    engine: CryptoEngine, aes_key: str, signing_key: str
) -> None:
    with pytest.raises(WrongKeyType):
        await engine.sign(aes_key, b"x")
    with pytest.raises(WrongKeyType):
        await engine.encrypt(signing_key, b"x")
    with pytest.raises(WrongKeyType):
        await engine.public_keys(aes_key)


# -- status ----------------------------------------------------------------------------


async def test_a_working_engine_reports_initialised_and_unsealed(
    engine: CryptoEngine,
) -> None:
    status = await engine.status()
    assert status.initialized
    assert not status.sealed


async def test_a_batch_runs_data_operations_in_order_and_returns_their_results(
    engine: CryptoEngine, aes_key: str
) -> None:
    digest, ciphertext = await engine.batch(
        [("hmac", (aes_key, b"alice@example.com")), ("encrypt", (aes_key, b"secret"))]
    )
    assert await engine.verify_hmac(aes_key, b"alice@example.com", digest)
    assert await engine.decrypt(aes_key, ciphertext) == b"secret"


async def test_a_batch_refuses_key_management(engine: CryptoEngine, aes_key: str) -> None:
    with pytest.raises(InvalidRequest, match="cannot be batched"):
        await engine.batch([("rotate", (aes_key,))])
    assert (await engine.key_info(aes_key)).latest_version == 1
