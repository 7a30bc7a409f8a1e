"""Worker-side authorisation: a handler declares the permission it needs, the worker checks it.

The front only authenticates; the worker that runs a job is the one place
that decides whether the caller may. Every handler of a :class:`Worker`
declares its policy — :func:`requires` a permission, or :func:`public` — and a
handler with neither is a ``TypeError`` when the class is created, so no
handler is left open by accident.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeVar

from enotime._actor import Actor
from enotime._context import current_context
from enotime.auth._errors import Forbidden, Unauthenticated

__all__ = ["Worker", "public", "requires"]

log = logging.getLogger("enotime.auth")

F = TypeVar("F", bound=Callable[..., Any])

_POLICY: Final = "__enotime_requires__"
_MISSING: Final[Any] = object()


def _check_permission_name(permission: object) -> str:
    if (
        not isinstance(permission, str)
        or not permission
        or permission != permission.strip()
        or any(c.isspace() for c in permission)
        or "*" in permission
    ):
        raise ValueError(
            f"a permission is a non-empty name without spaces or '*' "
            f"(e.g. 'notes:delete'), not {permission!r}"
        )
    return permission


def covers(grants: Iterable[str], permission: str) -> bool:
    """True if one of ``grants`` is ``permission``, ``<prefix>:*`` over it, or ``*``."""
    for grant in grants:
        if grant == permission or grant == "*":
            return True
        if grant.endswith(":*") and permission.startswith(grant[:-1]):
            return True
    return False


def public(function: F) -> F:
    """Declare that a :class:`Worker` handler needs no permission (``requires(None)``).

    For messages anyone may send, and for runtime messages (``Exit``,
    ``Down``) and internal work that carry no claims. The handler runs
    unchecked: make that choice on purpose.
    """
    if getattr(function, _POLICY, _MISSING) is not _MISSING:
        raise TypeError(f"{function.__qualname__} already declares its permission")
    setattr(function, _POLICY, None)
    return function


def requires(permission: str | None) -> Callable[[F], F]:
    """Declare the permission a :class:`Worker` handler needs; checked before it runs.

    Stack it under ``@handler`` (sync or async handlers alike). Before the
    body runs, :meth:`Worker.authorise` checks the claims of the current
    request context: no claims -> :class:`Unauthenticated`; a message whose
    ``account`` is not the token's ``acct``, a permission none of the roles
    grants, or a scope that does not cover it -> :class:`Forbidden`. A
    refused ``call`` raises the error to the caller; a refused ``send`` is
    logged and dropped (dead letter). Either way the worker keeps running.
    ``requires(None)`` is :func:`public`.

    Example:
        >>> class Notes(Worker):
        ...     role_permissions = {"owner": frozenset({"notes:*"})}
        ...
        ...     @handler
        ...     @requires("notes:delete")
        ...     async def delete(self, msg: DeleteNote) -> None: ...
    """
    if permission is None:
        return public
    needed = _check_permission_name(permission)

    def decorate(function: F) -> F:
        if getattr(function, _POLICY, _MISSING) is not _MISSING:
            raise TypeError(f"{function.__qualname__} already declares its permission")
        guarded: Callable[..., Any]
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded_async(actor: Actor, message: Any, /) -> Any:
                _authorise(actor, needed, message)
                return await function(actor, message)

            guarded = guarded_async
        else:

            @functools.wraps(function)
            def guarded_sync(actor: Actor, message: Any, /) -> Any:
                _authorise(actor, needed, message)
                return function(actor, message)

            guarded = guarded_sync
        setattr(guarded, _POLICY, needed)
        return guarded  # type: ignore[return-value]

    return decorate


class Worker(Actor):
    """An actor whose handlers run only for callers whose claims allow them.

    ``role_permissions`` maps each role (as found in the token's ``roles``
    claim: the caller's roles in the token's account) to the permissions it
    grants; an entry may be a permission, ``<prefix>:*`` or ``*``. Every
    handler declares :func:`requires` or :func:`public`.

    Example:
        >>> class Notes(Worker):
        ...     role_permissions = {
        ...         "owner": frozenset({"notes:read", "notes:write", "notes:delete"}),
        ...         "member": frozenset({"notes:read", "notes:write"}),
        ...     }
        ...
        ...     @handler
        ...     @requires("notes:read")
        ...     def read(self, msg: ReadNote) -> str: ...
    """

    role_permissions: ClassVar[Mapping[str, frozenset[str]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        open_handlers = sorted(
            {
                getattr(entry.function, "__qualname__", repr(entry.function))
                for entry in cls._enotime_declared.values()
                if getattr(entry.function, _POLICY, _MISSING) is _MISSING
            }
        )
        if open_handlers:
            raise TypeError(
                f"{cls.__qualname__}: handler {', '.join(open_handlers)} declares no "
                "permission; add @requires('<permission>') or @public under @handler"
            )
        if not (issubclass(Forbidden, cls.refusals) and issubclass(Unauthenticated, cls.refusals)):
            raise TypeError(
                f"{cls.__qualname__}.refusals must include Forbidden and Unauthenticated "
                "(Refused covers both), or a refused caller would crash the worker"
            )
        permissions = cls.role_permissions
        if not isinstance(permissions, Mapping) or not all(
            isinstance(role, str)
            and isinstance(grants, frozenset | set)
            and all(isinstance(grant, str) and grant for grant in grants)
            for role, grants in permissions.items()
        ):
            raise TypeError(
                f"{cls.__qualname__}.role_permissions must map role names to "
                "frozensets of permission names"
            )

    def authorise(self, permission: str, message: object) -> None:
        """Raise unless the current caller may run a handler needing ``permission`` on ``message``.

        Override to add checks (call ``super().authorise`` first); raise
        :class:`Forbidden` or :class:`Unauthenticated` to refuse.
        """
        context = current_context()
        claims = context.claims if context is not None else None
        if not claims or not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthenticated("authentication is required")
        account = getattr(message, "account", _MISSING)
        acct = claims.get("acct")
        if account is not _MISSING and (acct is None or account != acct):
            raise Forbidden("the access token is not valid for this account")
        roles = claims.get("roles")
        if isinstance(roles, str) or not isinstance(roles, Sequence):
            roles = ()
        granted = any(
            covers(self.role_permissions.get(role, ()), permission)
            for role in roles
            if isinstance(role, str)
        )
        if not granted:
            raise Forbidden(f"your roles in this account do not grant {permission}")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not covers(scope.split(), permission):
            raise Forbidden(f"the access token's scope does not cover {permission}")


def _authorise(actor: Actor, permission: str, message: object) -> None:
    """Run the worker's check; log a refusal (with request id and subject) and raise it."""
    if not isinstance(actor, Worker):
        raise TypeError(
            f"@requires works on Worker handlers; {type(actor).__qualname__} is not a Worker"
        )
    try:
        actor.authorise(permission, message)
    except (Forbidden, Unauthenticated) as error:
        context = current_context()
        log.info(
            "%s refused %s (needs %s) for subject %r, request %s: %s",
            _describe(actor),
            type(message).__qualname__,
            permission,
            context.claims.get("sub") if context is not None else None,
            context.request_id if context is not None else None,
            error,
        )
        raise


def _describe(actor: Actor) -> str:
    # An actor object that was never spawned (a handler called directly) has no ref.
    return repr(actor.ref) if hasattr(actor, "_enotime_proc") else type(actor).__qualname__
