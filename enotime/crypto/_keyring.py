"""The embedded engine's keyring file: format, encryption and atomic writes.

One file, ``<dir>/keyring.json``::

    {"format": "enotime-keyring", "version": 1, "keyring_id": "<16 hex>",
     "shares": n, "threshold": t, "nonce": "<b64>", "ciphertext": "<b64>"}

``ciphertext`` is AES-256-GCM of the keyring JSON under a key derived from the
master key with HKDF-SHA256 (salt: the keyring id), with the other fields as
associated data, so editing the threshold or share count in the file makes the
keyring refuse to open. Writes go to a temporary file in the same directory,
are fsynced, then renamed over the old file (and the directory fsynced): a
crash leaves either the old keyring or the new one, never a torn one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KEYRING_FILE", "KeyringFile", "KeyringHeader", "keyring_cipher"]

KEYRING_FILE = "keyring.json"
_FORMAT = "enotime-keyring"
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class KeyringHeader:
    """The plaintext part of the keyring file."""

    keyring_id: str
    shares: int
    threshold: int

    def associated_data(self) -> bytes:
        """The header bytes that AES-GCM authenticates with the keyring."""
        fields = {
            "format": _FORMAT,
            "version": 1,
            "keyring_id": self.keyring_id,
            "shares": self.shares,
            "threshold": self.threshold,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def keyring_cipher(master_key: bytes, header: KeyringHeader) -> AESGCM:
    """The AEAD that seals the keyring, derived from the master key (key separation)."""
    kdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=bytes.fromhex(header.keyring_id),
        info=b"enotime keyring encryption v1",
    )
    return AESGCM(kdf.derive(master_key))


class KeyringFile:
    """Reads and atomically writes ``<directory>/keyring.json``. Blocking: call off the loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / KEYRING_FILE

    def exists(self) -> bool:
        """Whether a keyring was initialised here."""
        return self.path.exists()

    def read_header(self) -> KeyringHeader:
        """The plaintext header; raises ``FileNotFoundError`` or ``ValueError``."""
        return self._read()[0]

    def open(self, cipher: AESGCM, header: KeyringHeader) -> dict[str, Any]:
        """Decrypt the keyring. Raises ``InvalidTag`` for a wrong key or altered file."""
        on_disk, nonce, ciphertext = self._read()
        if on_disk != header:
            raise InvalidTag
        plaintext = cipher.decrypt(nonce, ciphertext, header.associated_data())
        data: dict[str, Any] = json.loads(plaintext)
        return data

    def write(
        self, cipher: AESGCM, header: KeyringHeader, keyring: dict[str, Any], *, create: bool
    ) -> None:
        """Encrypt and store ``keyring`` atomically.

        Args:
            cipher: From :func:`keyring_cipher`.
            header: The header to store (and authenticate).
            keyring: The plaintext keyring.
            create: Fail with ``FileExistsError`` if a keyring already exists,
                atomically (no check-then-write race).
        """
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plaintext = json.dumps(keyring, sort_keys=True).encode()
        document = {
            "format": _FORMAT,
            "version": 1,
            "keyring_id": header.keyring_id,
            "shares": header.shares,
            "threshold": header.threshold,
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(
                cipher.encrypt(nonce, plaintext, header.associated_data())
            ).decode(),
        }
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.directory / f".{KEYRING_FILE}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=1)
                stream.flush()
                os.fsync(stream.fileno())
            if create:
                os.link(tmp, self.path)  # fails if the keyring exists
            else:
                os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read(self) -> tuple[KeyringHeader, bytes, bytes]:
        document = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValueError(f"{self.path} is not an enotime keyring")
        if document.get("version") != 1:
            raise ValueError(f"{self.path}: unsupported keyring version {document.get('version')}")
        header = KeyringHeader(
            keyring_id=str(document["keyring_id"]),
            shares=int(document["shares"]),
            threshold=int(document["threshold"]),
        )
        return (
            header,
            base64.b64decode(document["nonce"], validate=True),
            base64.b64decode(document["ciphertext"], validate=True),
        )
