"""Typed messages with a registered type tag and version, and their JSON codec.

A message is a frozen dataclass decorated with :func:`message`; its fields are
validated by pydantic against the annotations on decode (strict: no silent
coercion, unknown fields refused). Bytes travel as base64 strings. Nothing is
ever pickled.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pydantic
import pydantic_core

from enotime.transport._errors import MalformedMessage, UnknownMessageType

__all__ = ["MessageRegistry", "MessageType", "default_registry", "message", "message_type"]

T = TypeVar("T")

_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")
_CONFIG = pydantic.ConfigDict(
    strict=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
)


@dataclasses.dataclass(frozen=True, slots=True)
class MessageType:
    """The identity of a message class on the wire.

    Attributes:
        tag: Dotted name, e.g. ``"acme.orders.Place"``; owned by whoever defines it.
        version: Bumped on every incompatible change of the fields.
    """

    tag: str
    version: int


class MessageRegistry:
    """Which class decodes which ``(tag, version)``; one per process is the norm.

    Several versions of one tag may be registered side by side (keep the old
    class while old senders run); each class has exactly one identity.
    """

    def __init__(self) -> None:
        self._classes: dict[tuple[str, int], type[Any]] = {}
        self._adapters: dict[type[Any], pydantic.TypeAdapter[Any]] = {}

    def register(self, cls: type[T], tag: str, version: int) -> type[T]:
        """Register ``cls`` (a frozen dataclass) under ``tag`` and ``version``.

        Raises:
            TypeError: ``cls`` is not a frozen dataclass.
            ValueError: Bad tag or version, or the pair belongs to another class.
        """
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            raise TypeError(f"@message needs a frozen dataclass, not {cls.__qualname__}")
        if not _TAG.fullmatch(tag) or len(tag) > 255:
            raise ValueError(f"invalid message tag {tag!r}: use dotted identifiers")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"message version must be an int >= 1, not {version!r}")
        holder = self._classes.get((tag, version))
        if holder is not None and holder is not cls:
            raise ValueError(f"{tag} v{version} is already registered to {holder.__qualname__}")
        cls.__pydantic_config__ = _CONFIG  # type: ignore[attr-defined]
        cls.__enotime_message__ = MessageType(tag, version)  # type: ignore[attr-defined]
        self._classes[(tag, version)] = cls
        return cls

    def lookup(self, tag: object, version: object) -> type[Any]:
        """The class registered for ``(tag, version)``.

        Raises:
            UnknownMessageType: None is.
        """
        cls = (
            self._classes.get((tag, version))
            if isinstance(tag, str) and isinstance(version, int) and not isinstance(version, bool)
            else None
        )
        if cls is None:
            raise UnknownMessageType(f"no message class is registered for {tag!r} v{version!r}")
        return cls

    def _adapter(self, cls: type[Any]) -> pydantic.TypeAdapter[Any]:
        adapter = self._adapters.get(cls)
        if adapter is None:  # built lazily: forward references resolve by first use
            adapter = self._adapters[cls] = pydantic.TypeAdapter(cls)
        return adapter

    def dump(self, obj: object) -> dict[str, Any]:
        """``obj`` as the wire's ``{"type", "v", "body"}`` object (JSON-ready values).

        Raises:
            UnknownMessageType: ``obj``'s class is not a registered message.
            MalformedMessage: A field holds a value its annotation does not allow.
        """
        identity = message_type(type(obj))
        if identity is None or self._classes.get((identity.tag, identity.version)) is not type(obj):
            raise UnknownMessageType(
                f"{type(obj).__qualname__} is not a registered message: decorate it with @message"
            )
        try:
            body = self._adapter(type(obj)).dump_python(obj, mode="json", warnings="error")
        except (pydantic.ValidationError, pydantic_core.PydanticSerializationError) as exc:
            raise MalformedMessage(f"cannot encode {identity.tag}: {exc}") from None
        return {"type": identity.tag, "v": identity.version, "body": body}

    def load(self, tag: object, version: object, body: object) -> object:
        """Validate ``body`` (parsed JSON) into an instance of the registered class.

        Raises:
            UnknownMessageType: No class for ``(tag, version)``.
            MalformedMessage: ``body`` does not match the class's fields.
        """
        cls = self.lookup(tag, version)
        try:
            # Validated from JSON text, not from Python objects, so that base64
            # bytes and strict JSON typing apply exactly as documented.
            return self._adapter(cls).validate_json(json.dumps(body))
        except pydantic.ValidationError as exc:
            errors = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or '<body>'}: {error['msg']}"
                for error in exc.errors(include_url=False)[:5]
            )
            raise MalformedMessage(f"{tag} v{version}: {errors}") from None

    def __contains__(self, cls: object) -> bool:
        identity = message_type(cls) if isinstance(cls, type) else None
        return identity is not None and self._classes.get((identity.tag, identity.version)) is cls

    def items(self) -> Mapping[tuple[str, int], type[Any]]:
        """A read-only view of ``(tag, version) -> class``."""
        return dict(self._classes)


default_registry = MessageRegistry()
"""The registry :func:`message` uses unless given another."""


def message_type(cls: type[Any]) -> MessageType | None:
    """The wire identity of a message class, or None if it is not one."""
    identity = getattr(cls, "__enotime_message__", None)
    return identity if isinstance(identity, MessageType) else None


def message(
    tag: str, *, version: int = 1, registry: MessageRegistry | None = None
) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a frozen dataclass a message that may cross the wire.

    Field types: ``str``, ``int``, ``float``, ``bool``, ``None``, lists,
    tuples, ``dict[str, ...]``, ``bytes`` (base64 on the wire), unions of
    those, and nested message classes (encoded as plain JSON objects; the
    field's annotation says which class).

    Example:
        >>> @message("acme.orders.Place", version=1)
        ... @dataclass(frozen=True)
        ... class Place(Request[int]):
        ...     sku: str
        ...     quantity: int

    Args:
        tag: The type tag, dotted identifiers owned by the message's author.
        version: Bump it on every incompatible change.
        registry: Where to register; the process-wide default if omitted.
    """
    target = default_registry if registry is None else registry

    def decorate(cls: type[T]) -> type[T]:
        return target.register(cls, tag, version)

    return decorate
