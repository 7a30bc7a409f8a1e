"""``enotime crypto init|unseal|seal|status`` end to end, as separate processes.

The node side is an embedded engine serving its control socket in this test's
event loop; each CLI call is a real subprocess, as each share holder's would be.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import enotime
from enotime.crypto import EmbeddedCryptoEngine, Sealed, open_control_server

ROOT = Path(enotime.__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "enotime.crypto._cli", "crypto"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The CLI with no running node (blocking is fine: nothing shares this loop)."""
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, env=ENV, timeout=30
    )


async def arun(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """The CLI against the node in this loop: must not block the loop the node runs on."""
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=ENV,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def shares_in(output: str) -> list[str]:
    return re.findall(r"^Unseal share \d+: (\S+)$", output, flags=re.MULTILINE)


async def test_init_unseal_status_seal_against_a_running_node(tmp_path: Path) -> None:
    keyring = str(tmp_path / "kr")
    engine = EmbeddedCryptoEngine(keyring)
    async with open_control_server(engine):
        code, out, err = await arun(
            "init", "--shares", "3", "--threshold", "2", "--keyring", keyring
        )
        assert code == 0, err
        shares = shares_in(out)
        assert len(shares) == 3
        assert "WARNING" in err
        assert "distribute" in err.lower() or "different person" in err

        code, out, _ = await arun("unseal", "--keyring", keyring, stdin=shares[2] + "\n")
        assert (code, out.strip()) == (0, "Unseal progress 1/2: still sealed.")
        code, out, _ = await arun("status", "--keyring", keyring)
        assert code == 2
        assert re.search(r"Unseal Progress\s+1/2", out)

        code, out, _ = await arun("unseal", "--keyring", keyring, stdin=shares[0] + "\n")
        assert (code, out.strip()) == (0, "Unsealed.")
        await engine.create_key("k")  # the node itself is unsealed, not the CLI
        ciphertext = await engine.encrypt("k", b"x")

        code, out, _ = await arun("status", "--keyring", keyring)
        assert code == 0
        assert re.search(r"Sealed\s+false", out)
        assert "running" in out

        code, out, _ = await arun("seal", "--keyring", keyring)
        assert (code, out.strip()) == (0, "Sealed.")
        with pytest.raises(Sealed):
            await engine.decrypt("k", ciphertext)
        code, _, _ = await arun("status", "--keyring", keyring)
        assert code == 2


async def test_a_bad_share_is_reported_and_not_counted(tmp_path: Path) -> None:
    keyring = str(tmp_path / "kr")
    engine = EmbeddedCryptoEngine(keyring)
    await engine.initialize(shares=3, threshold=2)
    async with open_control_server(engine):
        code, _, err = await arun("unseal", "--keyring", keyring, stdin="not-a-share\n")
        assert code == 1
        assert "InvalidShare" in err
    assert (await engine.status()).progress == 0


def test_without_a_node_init_status_verify_and_seal_are_honest(tmp_path: Path) -> None:
    keyring = str(tmp_path / "kr")
    done = run("init", "--shares", "3", "--threshold", "2", "--keyring", keyring)
    assert done.returncode == 0, done.stderr
    shares = shares_in(done.stdout)

    again = run("init", "--shares", "3", "--threshold", "2", "--keyring", keyring)
    assert again.returncode == 1
    assert "AlreadyInitialized" in again.stderr

    status = run("status", "--keyring", keyring)
    assert status.returncode == 2
    assert "not running" in status.stdout
    assert re.search(r"Threshold\s+2", status.stdout)

    unseal = run("unseal", "--keyring", keyring, stdin=shares[0] + "\n")
    assert unseal.returncode == 2
    assert "no running node" in unseal.stderr

    verify = run("unseal", "--verify", "--keyring", keyring, stdin=f"{shares[1]}\n{shares[2]}\n")
    assert verify.returncode == 0, verify.stderr
    assert "open the keyring" in verify.stdout

    seal = run("seal", "--keyring", keyring)
    assert seal.returncode == 0
    assert "nothing is unsealed" in seal.stdout


def test_shares_never_appear_on_the_command_line(tmp_path: Path) -> None:
    done = run("unseal", "--help")
    assert done.returncode == 0
    assert "--share" not in done.stdout
