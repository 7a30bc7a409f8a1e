"""enotime.crypto's public API: every name exported once, and each is what it says."""

from __future__ import annotations

import enotime.crypto
from enotime.crypto import CryptoError
from enotime.errors import EnotimeError


def test_every_public_name_is_exported_exactly_once_and_resolves() -> None:
    names = enotime.crypto.__all__
    assert len(names) == len(set(names))
    assert sorted(names) == names
    for name in names:
        assert getattr(enotime.crypto, name) is not None


def test_every_error_is_an_enotime_error_with_a_docstring() -> None:
    errors = [getattr(enotime.crypto, name) for name in enotime.crypto._errors.__all__]
    for error in errors:
        assert issubclass(error, CryptoError)
        assert issubclass(error, EnotimeError)
        assert error.__doc__


def test_vault_engine_is_importable_from_the_package() -> None:
    from enotime.crypto import AppRoleCredentials, VaultCryptoEngine

    assert VaultCryptoEngine.__module__ == "enotime.crypto._vault"
    assert "secret" not in repr(AppRoleCredentials("role", "s3cr3t-id"))
