"""Endpoint declarations: an HTTP route wired to an actor's message, by models.

An endpoint is wiring, not logic: the input model says what the body may
hold, the message class what the target actor receives, the output model
what the client gets back. The front turns each declaration into a Quart
route and its OpenAPI operation, and checks the wiring when it is declared.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from pydantic import BaseModel, ConfigDict

from enotime.edge._page import Page
from enotime.edge._ratelimit import RateLimit

__all__ = ["Endpoint", "InputModel", "MessageFactory"]

MessageFactory: TypeAlias = Callable[[BaseModel | None, Mapping[str, Any]], object]
"""Builds the message from the validated input (or None) and the path (and query) parameters."""

_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_BODILESS: Final = frozenset({"GET"})
_PATH_PARAMETER: Final = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_NAME_PART: Final = re.compile(r"[^A-Za-z0-9]+")


class InputModel(BaseModel):
    """A convenient base for input models: unknown fields refused, strings stripped and bounded.

    Every input model of an endpoint must refuse unknown fields
    (``extra="forbid"``); this base also strips surrounding whitespace from
    strings and caps them at 8192 characters (set ``Field(max_length=...)``
    for tighter bounds, or override ``model_config``).
    """

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, str_max_length=8192, frozen=True
    )


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One HTTP route, declared: what it accepts, which actor handles it, what it answers.

    Example:
        >>> Endpoint(
        ...     method="POST", path="/accounts/<account>/notes", target="notes",
        ...     message=CreateNote, input=NoteIn, output=NoteOut, status=201,
        ...     summary="Create a note", tags=("notes",),
        ...     rate_limits=(RateLimit(count=5, period=60.0),),
        ... )

    The front validates the JSON body against ``input`` (and the query string
    against ``query``), builds the message — by default
    ``message(**input.model_dump(), **query.model_dump(), **path_params)``,
    or by calling ``message(input_or_None, params)`` when it is not a class —
    and ``call``\\ s the actor registered as ``target`` with the request id and
    the verified claims as the request context. The reply (a dataclass, a
    pydantic model or a mapping) is converted with
    ``output.model_validate(reply, from_attributes=True)`` and answered as JSON.

    Attributes:
        method: GET, POST, PUT, PATCH or DELETE (GET takes no body).
        path: The Quart route (``<name>``, ``<int:name>``, ``<string(maxlength=64):name>``).
        target: The registered name of the actor that handles it on this node;
            when no local actor holds it and the node is connected to a
            transport, the cluster service of that name (``node.service``):
            the workers may run on other nodes (their messages must then be
            registered wire messages, ``enotime.transport.message``).
        message: The message class, or a :data:`MessageFactory`.
        input: The body's model (must forbid extra fields), or None for no body.
        output: The reply's model, or None to answer with no body.
        status: The success status; default 200 with an output, 204 without.
        public: Served without a bearer token (login, register, ...).
        summary: The OpenAPI summary; ``description`` its longer text.
        tags: OpenAPI tags.
        rate_limits: Extra per-address limits for this route, on top of the
            front's defaults.
        timeout: Seconds to wait for the target's reply (default: the
            front's ``call_timeout``); past it the client gets 504.
        query: The query string's model (must forbid extra fields), or None.
        name: The operation's name; the OpenAPI ``operationId`` (and the
            Quart endpoint) is ``<method>_<name>``. Derived from the path by
            default.
        errors: More error statuses to document in OpenAPI (say 409 for an
            endpoint whose target may raise a conflict).
        page: An HTML page for people, served by GET on the same path, whose
            form POSTs here (``application/x-www-form-urlencoded``, validated
            by ``input`` like the JSON body): for the links a system mails
            (see :class:`~enotime.edge.Page`). Only on a public POST with an
            input model.
    """

    method: str
    path: str
    target: str
    message: type | MessageFactory
    input: type[BaseModel] | None = None
    output: type[BaseModel] | None = None
    status: int | None = None
    public: bool = False
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    timeout: float | None = None
    query: type[BaseModel] | None = None
    name: str | None = None
    errors: tuple[int, ...] = ()
    page: Page | None = None

    def __post_init__(self) -> None:
        method = self.method.upper()
        object.__setattr__(self, "method", method)
        where = f"endpoint {method} {self.path}"
        if method not in _METHODS:
            raise ValueError(f"{where}: the method must be one of {sorted(_METHODS)}")
        if not self.path.startswith("/"):
            raise ValueError(f"{where}: the path must start with '/'")
        if not self.target:
            raise ValueError(f"{where}: the target actor's name is empty")
        if self.input is not None and method in _BODILESS:
            raise ValueError(f"{where}: a {method} takes no body; declare a query model instead")
        for role, model in (("input", self.input), ("query", self.query)):
            if model is None:
                continue
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"{where}: the {role} must be a pydantic model class")
            if model.model_config.get("extra") != "forbid":
                raise TypeError(
                    f"{where}: the {role} model {model.__name__} must refuse unknown fields "
                    '(model_config = ConfigDict(extra="forbid"), or subclass InputModel)'
                )
        if self.output is not None and not (
            isinstance(self.output, type) and issubclass(self.output, BaseModel)
        ):
            raise TypeError(f"{where}: the output must be a pydantic model class or None")
        if self.status is not None and not 200 <= self.status <= 299:
            raise ValueError(f"{where}: the success status must be 2xx, not {self.status!r}")
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError(f"{where}: the timeout must be positive seconds")
        if any(not 400 <= status <= 599 for status in self.errors):
            raise ValueError(f"{where}: documented errors must be 4xx or 5xx statuses")
        if not isinstance(self.message, type) and not callable(self.message):
            raise TypeError(f"{where}: the message must be a class or a callable")
        if self.page is not None:
            if method != "POST" or not self.public or self.input is None:
                raise ValueError(f"{where}: a page needs a public POST with an input model")
            self.page.check(self.input, where)
        self._check_wiring(where)

    @property
    def path_parameters(self) -> tuple[str, ...]:
        """The names of the path's parameters, in order."""
        return tuple(_PATH_PARAMETER.findall(self.path))

    @property
    def success_status(self) -> int:
        """The status of a successful answer."""
        if self.status is not None:
            return self.status
        return 200 if self.output is not None else 204

    @property
    def operation_name(self) -> str:
        """``name``, or the path's words (``/accounts/<id>/notes``: ``accounts_id_notes``)."""
        if self.name:
            return self.name
        words = _NAME_PART.sub("_", _PATH_PARAMETER.sub(r"\1", self.path)).strip("_")
        return words or "root"

    @property
    def route_name(self) -> str:
        """The Quart endpoint name and OpenAPI ``operationId``: ``<method>_<operation_name>``."""
        return f"{self.method.lower()}_{self.operation_name}"

    def build(
        self, data: BaseModel | None, query: BaseModel | None, path: dict[str, Any]
    ) -> object:
        """The message for one request (see the class docstring for the default)."""
        message = self.message
        if isinstance(message, type):
            fields: dict[str, Any] = {}
            if data is not None:
                fields.update(data.model_dump())
            if query is not None:
                fields.update(query.model_dump())
            fields.update(path)
            return message(**fields)
        params: dict[str, Any] = path if query is None else {**query.model_dump(), **path}
        return message(data, params)

    def _check_wiring(self, where: str) -> None:
        """Refuse a declaration whose names cannot meet: a wiring bug, found at import."""
        groups = {
            "path": set(self.path_parameters),
            "input": set(self.input.model_fields) if self.input is not None else set(),
            "query": set(self.query.model_fields) if self.query is not None else set(),
        }
        seen: dict[str, str] = {}
        for group, names in groups.items():
            for name in names:
                if name in seen:
                    raise ValueError(f"{where}: {name!r} is a {seen[name]} and a {group} field")
                seen[name] = group
        if not isinstance(self.message, type):
            return
        try:
            signature = inspect.signature(self.message)
        except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
            return
        try:
            signature.bind(**dict.fromkeys(seen))
        except TypeError as error:
            raise TypeError(
                f"{where}: {self.message.__qualname__} cannot be built from "
                f"{sorted(seen) or 'no fields'}: {error}"
            ) from None
