"""Declaring message handlers: the ``@handler`` decorator and its lookup table."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, overload

__all__ = ["HandlerEntry", "collect_handlers", "handler"]

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__enotime_handles__"
_INFER = object()


class HandlerEntry(NamedTuple):
    """One message type's handler: the function and whether it must be awaited."""

    function: Callable[..., Any]
    is_async: bool


@overload
def handler(*message_types: type) -> Callable[[F], F]: ...
@overload
def handler(target: F, /) -> F: ...
def handler(*args: Any) -> Any:
    """Mark an actor method as the handler of a message type.

    The type comes from the annotation of the method's message parameter
    (``A | B`` handles both), or is named explicitly: ``@handler(Ping)``.
    Handlers may be plain or ``async``; what a handler returns is the reply to
    a ``call`` (and is ignored for a ``cast``).

    Example:
        >>> class Counter(Actor):
        ...     @handler
        ...     def add(self, msg: Add) -> int: ...
    """
    if len(args) == 1 and inspect.isfunction(args[0]):
        setattr(args[0], _MARK, _INFER)
        return args[0]
    if not args or not all(isinstance(t, type) for t in args):
        raise TypeError("use @handler or @handler(MessageType, ...) with classes")

    def mark(function: F) -> F:
        setattr(function, _MARK, tuple(args))
        return function

    return mark


def _declared_types(owner: type, name: str, function: Callable[..., Any]) -> tuple[type, ...]:
    marked = getattr(function, _MARK)
    if marked is not _INFER:
        return typing.cast(tuple[type, ...], marked)
    params = list(inspect.signature(function).parameters.values())
    where = f"{owner.__qualname__}.{name}"
    if len(params) != 2:
        raise TypeError(f"handler {where} must take (self, message)")
    try:
        hints = typing.get_type_hints(function)
    except NameError as exc:
        raise TypeError(
            f"cannot resolve the message type of handler {where} ({exc}); "
            "name it explicitly with @handler(MessageType)"
        ) from None
    hint = hints.get(params[1].name)
    if hint is None:
        raise TypeError(f"handler {where} needs a type annotation on its message parameter")
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        declared = typing.get_args(hint)
    else:
        declared = (typing.get_origin(hint) or hint,)
    if not all(isinstance(t, type) for t in declared):
        raise TypeError(f"handler {where}: message annotation {hint!r} is not a class")
    return declared


def collect_handlers(cls: type, inherited: dict[type, HandlerEntry]) -> dict[type, HandlerEntry]:
    """The handler table of ``cls``: its bases' entries, overridden by its own."""
    table = dict(inherited)
    for name, attribute in vars(cls).items():
        if not hasattr(attribute, _MARK):
            continue
        entry = HandlerEntry(attribute, inspect.iscoroutinefunction(attribute))
        for message_type in _declared_types(cls, name, attribute):
            table[message_type] = entry
    return table
