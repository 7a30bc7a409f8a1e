"""The embedded engine's seal, unseal, keyring file and break-glass behaviour."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from enotime.crypto import (
    AlreadyInitialized,
    EmbeddedCryptoEngine,
    EngineUnavailable,
    InvalidRequest,
    InvalidShare,
    KeyType,
    NotInitialized,
    Sealed,
    WrongKeyType,
)


@pytest.fixture
def keyring(tmp_path: Path) -> Path:
    return tmp_path / "keyring"


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def unsealed(directory: Path, shares: list[str]) -> EmbeddedCryptoEngine:
    engine = EmbeddedCryptoEngine(directory)
    for share in shares:
        await engine.submit_unseal_share(share)
    return engine


# -- init -----------------------------------------------------------------------------------


async def test_initialize_returns_distinct_printable_shares_and_stays_sealed(
    keyring: Path,
) -> None:
    engine = EmbeddedCryptoEngine(keyring)
    shares = await engine.initialize(shares=5, threshold=3)
    assert len(set(shares)) == 5
    assert all(share.isprintable() and share.startswith("enotime-share:v1:") for share in shares)
    status = await engine.status()
    assert (status.initialized, status.sealed, status.threshold, status.shares) == (
        True,
        True,
        3,
        5,
    )


async def test_initialize_refuses_an_existing_keyring(keyring: Path) -> None:
    await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    with pytest.raises(AlreadyInitialized):
        await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)


@pytest.mark.parametrize(("shares", "threshold"), [(3, 4), (0, 0), (3, 1), (256, 3)])
async def test_initialize_refuses_impossible_thresholds(
    keyring: Path, shares: int, threshold: int
) -> None:
    with pytest.raises(InvalidRequest):
        await EmbeddedCryptoEngine(keyring).initialize(shares=shares, threshold=threshold)
    assert listing(keyring.parent) == []


async def test_one_share_of_one_is_allowed(keyring: Path) -> None:
    [share] = await EmbeddedCryptoEngine(keyring).initialize(shares=1, threshold=1)
    engine = await unsealed(keyring, [share])
    assert not (await engine.status()).sealed


async def test_uninitialised_engine_reports_it_and_refuses_operations(keyring: Path) -> None:
    engine = EmbeddedCryptoEngine(keyring)
    status = await engine.status()
    assert (status.initialized, status.sealed) == (False, True)
    with pytest.raises(NotInitialized):
        await engine.encrypt("k", b"x")
    with pytest.raises(NotInitialized):
        await engine.submit_unseal_share("enotime-share:v1:...")


# -- unseal ---------------------------------------------------------------------------------


async def test_fewer_than_threshold_shares_leave_it_sealed_and_threshold_unseals(
    keyring: Path,
) -> None:
    engine = EmbeddedCryptoEngine(keyring)
    shares = await engine.initialize(shares=5, threshold=3)

    first = await engine.submit_unseal_share(shares[4])
    second = await engine.submit_unseal_share(shares[1])
    assert (first.sealed, first.progress, second.sealed, second.progress) == (True, 1, True, 2)
    with pytest.raises(Sealed):
        await engine.create_key("k")
    assert (await engine.status()).progress == 2

    third = await engine.submit_unseal_share(shares[2])
    assert (third.sealed, third.progress, third.threshold) == (False, 0, 3)
    await engine.create_key("k")


async def test_any_threshold_subset_of_shares_unseals(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=4, threshold=2)
    writer = await unsealed(keyring, shares[:2])
    await writer.create_key("k")
    ciphertext = await writer.encrypt("k", b"x")
    for pair in [(0, 3), (2, 1), (3, 2)]:
        engine = await unsealed(keyring, [shares[i] for i in pair])
        assert await engine.decrypt("k", ciphertext) == b"x"


async def test_share_from_another_keyring_is_rejected_clearly(tmp_path: Path) -> None:
    ours = EmbeddedCryptoEngine(tmp_path / "ours")
    await ours.initialize(shares=3, threshold=2)
    theirs = await EmbeddedCryptoEngine(tmp_path / "theirs").initialize(shares=3, threshold=2)
    with pytest.raises(InvalidShare, match="belongs to keyring"):
        await ours.submit_unseal_share(theirs[0])
    assert (await ours.status()).progress == 0


async def test_mistyped_share_is_rejected_before_it_counts(keyring: Path) -> None:
    engine = EmbeddedCryptoEngine(keyring)
    shares = await engine.initialize(shares=3, threshold=2)
    body, check = shares[0].rsplit(":", 1)
    typo = body[:-1] + ("0" if body[-1] != "0" else "1") + ":" + check
    with pytest.raises(InvalidShare, match="checksum"):
        await engine.submit_unseal_share(typo)
    with pytest.raises(InvalidShare, match="malformed"):
        await engine.submit_unseal_share("hunter2")
    assert (await engine.status()).progress == 0


async def test_same_share_twice_does_not_count_twice(keyring: Path) -> None:
    engine = EmbeddedCryptoEngine(keyring)
    shares = await engine.initialize(shares=3, threshold=2)
    await engine.submit_unseal_share(shares[0])
    with pytest.raises(InvalidShare, match="already submitted"):
        await engine.submit_unseal_share(shares[0])
    assert (await engine.status()).progress == 1


async def test_wrong_set_of_shares_fails_cleanly_and_resets_progress(keyring: Path) -> None:
    engine = EmbeddedCryptoEngine(keyring)
    shares = await engine.initialize(shares=3, threshold=2)
    # A forged share: right keyring id, index and checksum, wrong value.
    from enotime.crypto._shamir import decode_share, encode_share

    real = decode_share(shares[1], keyring_id=shares[1].split(":")[2], shares=3)
    forged = encode_share(real.keyring_id, real.index, bytes(32))

    await engine.submit_unseal_share(shares[0])
    with pytest.raises(InvalidShare, match="do not open"):
        await engine.submit_unseal_share(forged)
    status = await engine.status()
    assert (status.sealed, status.progress) == (True, 0)

    await engine.submit_unseal_share(shares[0])
    assert not (await engine.submit_unseal_share(shares[1])).sealed


async def test_altered_keyring_header_does_not_open(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    path = keyring / "keyring.json"
    document = json.loads(path.read_text())
    document["shares"] = 4  # e.g. to accept a share nobody was given
    path.write_text(json.dumps(document))
    engine = EmbeddedCryptoEngine(keyring)
    await engine.submit_unseal_share(shares[0])
    with pytest.raises(InvalidShare, match="do not open"):
        await engine.submit_unseal_share(shares[1])


# -- sealed ---------------------------------------------------------------------------------


async def test_sealed_engine_refuses_every_operation(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    await engine.create_key("aes")
    await engine.create_key("sig", KeyType.ED25519)
    ciphertext = await engine.encrypt("aes", b"x")
    mac = await engine.hmac("aes", b"x")
    signature = await engine.sign("sig", b"x")
    await engine.seal()

    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: engine.create_key("new"),
        lambda: engine.key_info("aes"),
        lambda: engine.rotate("aes"),
        lambda: engine.set_min_decryption_version("aes", 1),
        lambda: engine.public_keys("sig"),
        lambda: engine.encrypt("aes", b"x"),
        lambda: engine.decrypt("aes", ciphertext),
        lambda: engine.rewrap("aes", ciphertext),
        lambda: engine.generate_data_key("aes"),
        lambda: engine.hmac("aes", b"x"),
        lambda: engine.verify_hmac("aes", b"x", mac),
        lambda: engine.sign("sig", b"x"),
        lambda: engine.verify("sig", b"x", signature),
    ]
    for operation in operations:
        with pytest.raises(Sealed):
            await operation()
    status = await engine.status()
    assert (status.initialized, status.sealed) == (True, True)


async def test_seal_mid_traffic_fails_requests_cleanly_and_loses_nothing(
    keyring: Path,
) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    await engine.create_key("k")
    done: list[tuple[bytes, str]] = []
    enough = asyncio.Event()

    async def client(number: int) -> BaseException | None:
        for i in range(10_000):
            plaintext = f"{number}-{i}".encode()
            try:
                done.append((plaintext, await engine.encrypt("k", plaintext)))
            except Sealed as exc:
                return exc
            if len(done) >= 200:
                enough.set()
            await asyncio.sleep(0)  # yield, as real traffic does -- noqa: sleep-ok
        return None

    clients = [asyncio.create_task(client(n)) for n in range(8)]
    await asyncio.wait_for(enough.wait(), timeout=10)
    await engine.seal()
    outcomes = await asyncio.wait_for(asyncio.gather(*clients), timeout=10)

    assert all(isinstance(outcome, Sealed) for outcome in outcomes)
    reopened = await unsealed(keyring, shares[1:])
    for plaintext, ciphertext in done:
        assert await reopened.decrypt("k", ciphertext) == plaintext


async def test_unseal_after_seal_restores_service(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    await engine.create_key("k")
    ciphertext = await engine.encrypt("k", b"x")
    await engine.seal()
    await engine.submit_unseal_share(shares[2])
    await engine.submit_unseal_share(shares[0])
    assert await engine.decrypt("k", ciphertext) == b"x"


async def test_seal_discards_unseal_progress(keyring: Path) -> None:
    engine = EmbeddedCryptoEngine(keyring)
    shares = await engine.initialize(shares=3, threshold=2)
    await engine.submit_unseal_share(shares[0])
    await engine.seal()
    assert (await engine.status()).progress == 0


# -- keyring persistence ------------------------------------------------------------------------


async def test_keyring_persists_across_restart(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    first = await unsealed(keyring, shares[:2])
    await first.create_key("k")
    await first.create_key("sig", KeyType.ED25519)
    old = await first.encrypt("k", b"kept")
    await first.rotate("k")
    await first.set_min_decryption_version("k", 2)
    await first.set_min_decryption_version("k", 1)
    mac = await first.hmac("k", b"index")
    public = await first.public_keys("sig")

    restarted = await unsealed(keyring, shares[1:])
    assert await restarted.decrypt("k", old) == b"kept"
    assert (await restarted.key_info("k")).latest_version == 2
    assert await restarted.hmac("k", b"index") == mac
    assert await restarted.public_keys("sig") == public


async def test_keyring_file_holds_no_key_material_in_clear(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    await engine.create_key("customer-emails")
    raw = (keyring / "keyring.json").read_bytes()
    assert b"customer-emails" not in raw
    assert mode(keyring / "keyring.json") == "0o600"
    assert mode(keyring) == "0o700"


async def test_failed_keyring_write_keeps_the_previous_keyring(
    keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    await engine.create_key("k")
    ciphertext = await engine.encrypt("k", b"x")

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)  # dies between temp write and rename
    with pytest.raises(EngineUnavailable):
        await engine.rotate("k")
    monkeypatch.undo()

    assert (await engine.key_info("k")).latest_version == 1  # memory not ahead of disk
    assert listing(keyring) == ["keyring.json"]  # no temp file left
    restarted = await unsealed(keyring, shares[:2])
    assert await restarted.decrypt("k", ciphertext) == b"x"


# -- key rules ----------------------------------------------------------------------------------


async def test_key_names_are_restricted(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    for bad in ["", "../escape", "a b", "x" * 129]:
        with pytest.raises(InvalidRequest):
            await engine.create_key(bad)


async def test_context_is_refused_by_a_non_derived_key(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    await engine.create_key("k")
    with pytest.raises(InvalidRequest, match="only accepted by derived keys"):
        await engine.encrypt("k", b"x", context=b"ignored?")


async def test_recreating_a_key_with_another_type_is_refused(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    await engine.create_key("k")
    with pytest.raises(WrongKeyType):
        await engine.create_key("k", KeyType.ED25519)
    with pytest.raises(InvalidRequest):
        await engine.create_key("sig", KeyType.ED25519, derived=True)


async def test_repr_never_shows_key_material(keyring: Path) -> None:
    shares = await EmbeddedCryptoEngine(keyring).initialize(shares=3, threshold=2)
    engine = await unsealed(keyring, shares[:2])
    assert "unsealed" in repr(engine)
    assert shares[0].split(":")[4] not in repr(engine)
