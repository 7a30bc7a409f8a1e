"""The Vault adapter against Vault's *documented* HTTP API -- not a real Vault.

No Vault server can be installed on the machines this project is built on. A
small stdlib HTTP server on 127.0.0.1 answers the transit, ``sys/seal`` and
AppRole endpoints with the bodies Vault's API documentation shows, and records
every request, so these tests check that the adapter sends the documented
method, path and JSON body and maps the documented answers (including
Vault's error statuses and messages) to the port's types and errors. The
same behaviour against a real Vault is the contract suite, run live when
``VAULT_ADDR`` is set (tests/contract/test_crypto_engine.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from enotime.crypto import (
    AccessDenied,
    AppRoleCredentials,
    EngineUnavailable,
    InvalidCiphertext,
    InvalidRequest,
    KeyNotFound,
    KeyType,
    KeyVersionDisallowed,
    MalformedCiphertext,
    NotInitialized,
    Sealed,
    VaultCryptoEngine,
    WrongKeyType,
)

TOKEN = "hvs.test-token"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any] | None
    token: str | None


@dataclass
class FakeVault:
    """Answers canned replies per (method, path) and records what it was sent."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    replies: dict[tuple[str, str], list[tuple[int, dict[str, Any] | None]]] = field(
        default_factory=dict
    )
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)

    def reply(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        """Queue one answer; the last one queued repeats."""
        self.replies.setdefault((method, path), []).append((status, body))

    def answer(self, method: str, path: str) -> tuple[int, dict[str, Any] | None]:
        queue = self.replies.get((method, path))
        if not queue:
            return 404, {"errors": []}
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def sent(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fake.requests.append(
                Request(
                    self.command,
                    self.path,
                    json.loads(raw) if raw else None,
                    self.headers.get("X-Vault-Token"),
                )
            )
            fake.arrived.set()
            if fake.hold is not None:
                fake.hold.wait(10)
            status, body = fake.answer(self.command, self.path)
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_LIST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    if fake.hold is not None:
        fake.hold.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
async def engine(vault: FakeVault) -> AsyncIterator[VaultCryptoEngine]:
    adapter = VaultCryptoEngine(vault.url, token=TOKEN)
    yield adapter
    await adapter.aclose()


def key_read(
    name: str, key_type: str = "aes256-gcm96", latest: int = 1, minimum: int = 1
) -> dict[str, Any]:
    """``GET /v1/transit/keys/:name`` as documented (``keys``: version -> creation time)."""
    keys: dict[str, Any] = {str(v): 1_700_000_000 + v for v in range(minimum, latest + 1)}
    return {
        "data": {
            "name": name,
            "type": key_type,
            "derived": False,
            "latest_version": latest,
            "min_decryption_version": minimum,
            "min_encryption_version": 0,
            "keys": keys,
        }
    }


# -- requests sent --------------------------------------------------------------------


async def test_encrypt_posts_base64_plaintext_with_the_token(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.reply(
        "POST",
        "/v1/transit/encrypt/k",
        body={"data": {"ciphertext": "vault:v1:abcd", "key_version": 1}},
    )
    assert await engine.encrypt("k", b"hello") == "vault:v1:abcd"
    [sent] = vault.sent("/v1/transit/encrypt/k")
    assert (sent.method, sent.body, sent.token) == ("POST", {"plaintext": b64(b"hello")}, TOKEN)


async def test_context_is_sent_base64_for_derived_keys(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.reply("POST", "/v1/transit/keys/d", status=204)
    vault.reply("POST", "/v1/transit/encrypt/d", body={"data": {"ciphertext": "vault:v1:abcd"}})
    vault.reply("POST", "/v1/transit/rewrap/d", body={"data": {"ciphertext": "vault:v2:abcd"}})
    await engine.create_key("d", derived=True)
    await engine.encrypt("d", b"x", context=b"tenant-1")
    await engine.rewrap("d", "vault:v1:abcd", context=b"tenant-1")
    assert vault.sent("/v1/transit/keys/d")[0].body == {"type": "aes256-gcm96", "derived": True}
    assert vault.sent("/v1/transit/encrypt/d")[0].body == {
        "plaintext": b64(b"x"),
        "context": b64(b"tenant-1"),
    }
    assert vault.sent("/v1/transit/rewrap/d")[0].body == {
        "ciphertext": "vault:v1:abcd",
        "context": b64(b"tenant-1"),
    }


async def test_decrypt_returns_the_decoded_plaintext(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.reply("POST", "/v1/transit/decrypt/k", body={"data": {"plaintext": b64(b"hello")}})
    assert await engine.decrypt("k", "vault:v1:abcd") == b"hello"
    assert vault.sent("/v1/transit/decrypt/k")[0].body == {"ciphertext": "vault:v1:abcd"}


async def test_create_key_posts_its_type(vault: FakeVault, engine: VaultCryptoEngine) -> None:
    vault.reply("POST", "/v1/transit/keys/sig", status=204)
    await engine.create_key("sig", KeyType.ED25519)
    assert vault.sent("/v1/transit/keys/sig")[0].body == {"type": "ed25519"}


async def test_key_info_reads_the_documented_key_answer(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.reply("GET", "/v1/transit/keys/k", body=key_read("k", latest=3, minimum=2))
    info = await engine.key_info("k")
    assert (info.type, info.latest_version, info.min_decryption_version, info.versions) == (
        KeyType.AES256_GCM96,
        3,
        2,
        (2, 3),
    )


async def test_public_keys_come_from_the_key_versions(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    answer = key_read("sig", "ed25519", latest=2)
    answer["data"]["keys"] = {
        "1": {"name": "ed25519", "public_key": b64(b"\x01" * 32), "creation_time": "..."},
        "2": {"name": "ed25519", "public_key": b64(b"\x02" * 32), "creation_time": "..."},
    }
    vault.reply("GET", "/v1/transit/keys/sig", body=answer)
    assert await engine.public_keys("sig") == {1: b"\x01" * 32, 2: b"\x02" * 32}


async def test_rotate_works_with_old_and_new_vault_answers(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.reply("POST", "/v1/transit/keys/old/rotate", status=204)  # Vault < 1.13
    vault.reply("GET", "/v1/transit/keys/old", body=key_read("old", latest=2))
    vault.reply("POST", "/v1/transit/keys/new/rotate", body=key_read("new", latest=5))
    assert await engine.rotate("old") == 2
    assert await engine.rotate("new") == 5


async def test_min_decryption_version_is_set_through_key_config(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.reply("GET", "/v1/transit/keys/k", body=key_read("k", latest=2))
    vault.reply("POST", "/v1/transit/keys/k/config", status=204)
    await engine.set_min_decryption_version("k", 2)
    assert vault.sent("/v1/transit/keys/k/config")[0].body == {"min_decryption_version": 2}
    with pytest.raises(InvalidRequest):
        await engine.set_min_decryption_version("k", 3)
    assert len(vault.sent("/v1/transit/keys/k/config")) == 1


async def test_data_key_uses_the_plaintext_datakey_endpoint(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    key = bytes(range(32))
    vault.reply(
        "POST",
        "/v1/transit/datakey/plaintext/k",
        body={"data": {"plaintext": b64(key), "ciphertext": "vault:v1:wrapped", "key_version": 1}},
    )
    assert await engine.generate_data_key("k") == (key, "vault:v1:wrapped")
    assert vault.sent("/v1/transit/datakey/plaintext/k")[0].body == {"bits": 256}


async def test_hmac_and_verify_hmac_requests(vault: FakeVault, engine: VaultCryptoEngine) -> None:
    vault.reply("POST", "/v1/transit/hmac/k", body={"data": {"hmac": "vault:v1:bWFj"}})
    vault.reply("POST", "/v1/transit/verify/k", body={"data": {"valid": True}})
    assert await engine.hmac("k", b"alice") == "vault:v1:bWFj"
    assert await engine.verify_hmac("k", b"alice", "vault:v1:bWFj")
    assert vault.sent("/v1/transit/hmac/k")[0].body == {
        "input": b64(b"alice"),
        "algorithm": "sha2-256",
    }
    verify = vault.sent("/v1/transit/verify/k")[0].body or {}
    assert (verify["input"], verify["hmac"], verify["hash_algorithm"]) == (
        b64(b"alice"),
        "vault:v1:bWFj",
        "sha2-256",
    )


async def test_sign_and_verify_requests(vault: FakeVault, engine: VaultCryptoEngine) -> None:
    vault.reply("POST", "/v1/transit/sign/sig", body={"data": {"signature": "vault:v1:c2ln"}})
    vault.reply("POST", "/v1/transit/verify/sig", body={"data": {"valid": False}})
    assert await engine.sign("sig", b"jwt") == "vault:v1:c2ln"
    assert not await engine.verify("sig", b"jwt", "vault:v1:c2ln")
    assert vault.sent("/v1/transit/sign/sig")[0].body == {"input": b64(b"jwt")}
    verify = vault.sent("/v1/transit/verify/sig")[0].body or {}
    assert (verify["input"], verify["signature"]) == (b64(b"jwt"), "vault:v1:c2ln")


async def test_custom_mount_point_is_used_in_every_path(vault: FakeVault) -> None:
    vault.reply("POST", "/v1/crypto/encrypt/k", body={"data": {"ciphertext": "vault:v1:abcd"}})
    adapter = VaultCryptoEngine(vault.url, token=TOKEN, mount_point="crypto")
    try:
        await adapter.encrypt("k", b"x")
    finally:
        await adapter.aclose()
    assert [r.path for r in vault.requests] == ["/v1/crypto/encrypt/k"]


async def test_status_and_seal_use_sys_endpoints(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.reply(
        "GET",
        "/v1/sys/seal-status",
        body={"type": "shamir", "initialized": True, "sealed": True, "t": 3, "n": 5, "progress": 1},
    )
    vault.reply("PUT", "/v1/sys/seal", status=204)
    status = await engine.status()
    assert (
        status.initialized,
        status.sealed,
        status.threshold,
        status.shares,
        status.progress,
    ) == (
        True,
        True,
        3,
        5,
        1,
    )
    await engine.seal()
    assert vault.sent("/v1/sys/seal")[0].method == "PUT"


# -- answers mapped to errors --------------------------------------------------------------


async def test_sealed_vault_is_the_same_sealed_error(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    sealed = {"errors": ["Vault is sealed"]}
    for path in ["encrypt/k", "decrypt/k", "hmac/k", "sign/k", "keys/k"]:
        vault.reply("POST", f"/v1/transit/{path}", status=503, body=sealed)
    vault.reply("GET", "/v1/transit/keys/k", status=503, body=sealed)
    with pytest.raises(Sealed):
        await engine.encrypt("k", b"x")
    with pytest.raises(Sealed):
        await engine.decrypt("k", "vault:v1:abcd")
    with pytest.raises(Sealed):
        await engine.hmac("k", b"x")
    with pytest.raises(Sealed):
        await engine.sign("k", b"x")
    with pytest.raises(Sealed):
        await engine.create_key("k")
    with pytest.raises(Sealed):
        await engine.key_info("k")


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (
            400,
            "ciphertext or signature version is disallowed by policy (too old)",
            KeyVersionDisallowed,
        ),
        (400, "cipher: message authentication failed", InvalidCiphertext),
        (400, "invalid ciphertext: no prefix", MalformedCiphertext),
        (400, "encryption key not found", KeyNotFound),
        (403, "permission denied", AccessDenied),
        (501, "Vault is not initialized", NotInitialized),
        (500, "internal error", EngineUnavailable),
        (503, "Vault is in standby mode", EngineUnavailable),
    ],
)
async def test_vault_errors_map_to_the_port_errors(
    vault: FakeVault,
    engine: VaultCryptoEngine,
    status: int,
    message: str,
    error: type[Exception],
) -> None:
    vault.reply("POST", "/v1/transit/decrypt/k", status=status, body={"errors": [message]})
    with pytest.raises(error):
        await engine.decrypt("k", "vault:v1:abcd")


async def test_missing_key_read_is_key_not_found(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    with pytest.raises(KeyNotFound):  # Vault answers 404 with an empty error list
        await engine.key_info("nope")


async def test_wrong_key_type_is_mapped(vault: FakeVault, engine: VaultCryptoEngine) -> None:
    vault.reply(
        "POST",
        "/v1/transit/sign/k",
        status=400,
        body={"errors": ["key type aes256-gcm96 does not support signing"]},
    )
    with pytest.raises(WrongKeyType):
        await engine.sign("k", b"x")
    vault.reply("GET", "/v1/transit/keys/k", body=key_read("k"))
    with pytest.raises(WrongKeyType):
        await engine.public_keys("k")


async def test_malformed_values_are_refused_before_any_request(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    for bad in ["", "garbage", "enotime:v1:abcd"]:
        with pytest.raises(MalformedCiphertext):
            await engine.decrypt("k", bad)
        with pytest.raises(MalformedCiphertext):
            await engine.verify_hmac("k", b"x", bad)
    assert vault.requests == []


async def test_unreachable_vault_is_engine_unavailable() -> None:
    adapter = VaultCryptoEngine("http://127.0.0.1:9", token=TOKEN, timeout=5)
    try:
        with pytest.raises(EngineUnavailable):
            await adapter.encrypt("k", b"x")
    finally:
        await adapter.aclose()


# -- auth and the event loop ------------------------------------------------------------------


async def test_approle_logs_in_then_uses_the_token_and_logs_in_again_on_403(
    vault: FakeVault,
) -> None:
    vault.reply("POST", "/v1/auth/approle/login", body={"auth": {"client_token": "hvs.first"}})
    vault.reply("POST", "/v1/auth/approle/login", body={"auth": {"client_token": "hvs.second"}})
    ok = {"data": {"ciphertext": "vault:v1:abcd"}}
    vault.reply("POST", "/v1/transit/encrypt/k", body=ok)
    vault.reply("POST", "/v1/transit/encrypt/k", status=403, body={"errors": ["permission denied"]})
    vault.reply("POST", "/v1/transit/encrypt/k", body=ok)
    adapter = VaultCryptoEngine(vault.url, approle=AppRoleCredentials("role-1", "secret-1"))
    try:
        await adapter.encrypt("k", b"x")
        await adapter.encrypt("k", b"x")  # token expired: 403, log in again, retry once
    finally:
        await adapter.aclose()

    logins = vault.sent("/v1/auth/approle/login")
    assert [r.body for r in logins] == [{"role_id": "role-1", "secret_id": "secret-1"}] * 2
    assert [r.token for r in vault.sent("/v1/transit/encrypt/k")] == [
        "hvs.first",
        "hvs.first",
        "hvs.second",
    ]


async def test_a_slow_vault_never_blocks_the_event_loop(
    vault: FakeVault, engine: VaultCryptoEngine
) -> None:
    vault.hold = threading.Event()
    vault.reply("POST", "/v1/transit/encrypt/k", body={"data": {"ciphertext": "vault:v1:abcd"}})
    call = asyncio.create_task(engine.encrypt("k", b"x"))
    # The loop keeps running while Vault holds the request: this await completes.
    assert await asyncio.to_thread(vault.arrived.wait, 10)
    assert not call.done()
    vault.hold.set()
    assert await asyncio.wait_for(call, timeout=10) == "vault:v1:abcd"
