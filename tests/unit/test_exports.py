"""The public API: every public name is exported exactly once, and resolves."""

from __future__ import annotations

import importlib
import importlib.resources
import pkgutil

import enotime

PUBLIC_MODULES = [
    "enotime",
    "enotime.abc",
    "enotime.errors",
    "enotime.messages",
    "enotime.testing",
    "enotime.crypto",
    "enotime.store",
    "enotime.registry",
    "enotime.transport",
    "enotime.metrics",
    "enotime.process",
    "enotime.auth",
    "enotime.mail",
    "enotime.edge",
    "enotime.login",
]


def test_every_public_module_declares_all_and_each_name_resolves() -> None:
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        assert sorted(module.__all__) == sorted(set(module.__all__)), module_name
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.{name}"


def test_each_public_object_is_exported_from_one_public_module_only() -> None:
    homes: dict[int, list[str]] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) or callable(obj):
                homes.setdefault(id(obj), []).append(f"{module_name}.{name}")
    duplicated = [places for places in homes.values() if len(places) > 1]
    assert duplicated == []


def test_implementation_modules_are_private() -> None:
    for info in pkgutil.iter_modules(enotime.__path__):
        if not info.ispkg:
            assert info.name.startswith("_") or f"enotime.{info.name}" in PUBLIC_MODULES, info.name


def test_the_package_is_typed() -> None:
    assert importlib.resources.files("enotime").joinpath("py.typed").is_file()
