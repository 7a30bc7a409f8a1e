"""The crypto actor: engine errors are answers, and a crash does not seal the engine."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from enotime import Node, child, supervisor, which_children
from enotime.crypto import CryptoClient, CryptoService, EmbeddedCryptoEngine, Sealed


@pytest.fixture
async def engine(tmp_path: Path) -> EmbeddedCryptoEngine:
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")
    for share in (await engine.initialize(shares=2, threshold=2))[:2]:
        await engine.submit_unseal_share(share)
    await engine.create_key("data")
    return engine


async def test_a_sealed_engine_answers_sealed_and_the_actor_keeps_serving(
    engine: EmbeddedCryptoEngine,
) -> None:
    async with Node("crypto") as node:
        service = await node.spawn(CryptoService, engine)
        crypto = CryptoClient(service)
        ciphertext = await crypto.encrypt("data", b"secret")
        await crypto.seal()  # break glass, through the actor
        with pytest.raises(Sealed):
            await crypto.decrypt("data", ciphertext)
        assert service.is_alive
        assert (await crypto.status()).sealed


async def test_a_restarted_crypto_actor_finds_its_engine_still_unsealed(
    engine: EmbeddedCryptoEngine,
) -> None:
    async with Node("crypto") as node:
        sup = await node.start(supervisor("sup", [child(CryptoService, engine, name="crypto")]))
        ciphertext = await CryptoClient(node.lookup("crypto")).encrypt("data", b"kept")
        node.kill(node.lookup("crypto"))
        await which_children(sup)  # the supervisor has restarted it
        restarted = CryptoClient(node.lookup("crypto"))
        assert await restarted.decrypt("data", ciphertext) == b"kept"


async def test_enotime_crypto_seal_breaks_glass_on_a_running_node(
    engine: EmbeddedCryptoEngine,
) -> None:
    async with Node("crypto") as node:
        service = await node.spawn(CryptoService, engine, control_socket=True)
        crypto = CryptoClient(service)
        ciphertext = await crypto.encrypt("data", b"secret")
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "enotime",
            "crypto",
            "seal",
            "--keyring",
            str(engine.directory),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(cli.communicate(), 30)
        assert cli.returncode == 0, output
        assert b"Sealed" in output
        with pytest.raises(Sealed):
            await crypto.decrypt("data", ciphertext)
        await node.stop(service)
        assert not (engine.directory / "control.sock").exists()
