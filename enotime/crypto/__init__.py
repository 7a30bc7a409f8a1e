"""The crypto port and its engines: Vault transit's operations, embedded or on Vault.

``EmbeddedCryptoEngine`` needs ``cryptography`` and ``pycryptodome``
(``pip install "enotime[crypto]"``); ``VaultCryptoEngine`` needs ``hvac``
(``pip install "enotime[vault]"``) and is imported lazily, so the embedded
engine works without hvac installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enotime.crypto._control import ControlClient, open_control_server
from enotime.crypto._embedded import EmbeddedCryptoEngine
from enotime.crypto._errors import (
    AccessDenied,
    AlreadyInitialized,
    CryptoError,
    EngineUnavailable,
    InvalidCiphertext,
    InvalidRequest,
    InvalidShare,
    KeyNotFound,
    KeyVersionDisallowed,
    MalformedCiphertext,
    NotInitialized,
    Sealed,
    WrongKeyType,
)
from enotime.crypto._port import (
    DataKey,
    KeyInfo,
    KeyType,
    SealStatus,
    UnsealProgress,
    VersionedValue,
    parse_versioned,
)
from enotime.crypto._service import CryptoClient, CryptoOperation, CryptoRequest, CryptoService

if TYPE_CHECKING:
    from enotime.crypto._vault import AppRoleCredentials, VaultCryptoEngine

__all__ = [
    "AccessDenied",
    "AlreadyInitialized",
    "AppRoleCredentials",
    "ControlClient",
    "CryptoClient",
    "CryptoError",
    "CryptoOperation",
    "CryptoRequest",
    "CryptoService",
    "DataKey",
    "EmbeddedCryptoEngine",
    "EngineUnavailable",
    "InvalidCiphertext",
    "InvalidRequest",
    "InvalidShare",
    "KeyInfo",
    "KeyNotFound",
    "KeyType",
    "KeyVersionDisallowed",
    "MalformedCiphertext",
    "NotInitialized",
    "SealStatus",
    "Sealed",
    "UnsealProgress",
    "VaultCryptoEngine",
    "VersionedValue",
    "WrongKeyType",
    "open_control_server",
    "parse_versioned",
]

_LAZY = {"VaultCryptoEngine", "AppRoleCredentials"}


def __getattr__(name: str) -> Any:
    # hvac (and requests) load only when the Vault engine is asked for.
    if name in _LAZY:
        from enotime.crypto import _vault

        return getattr(_vault, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
