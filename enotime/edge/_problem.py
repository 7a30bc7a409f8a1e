"""Errors as ``application/problem+json`` (RFC 9457), and which error gets which status.

Every 4xx and 5xx the front answers is a problem document: ``type``,
``title``, ``status``, ``detail``, ``instance`` (the request path) and
``request_id``, plus ``errors`` (the fields) for validation failures and
``token_problem`` for refused access tokens. Details never carry internals:
only the messages of :class:`~enotime.errors.Refused` errors (which must be
safe to show) and fixed sentences.

The mapping, first match wins:

- ``InvalidToken`` (every ``TokenProblem``): 401, ``token_problem`` in the body,
  ``WWW-Authenticate: Bearer error="invalid_token"``.
- Body, query or message fields invalid: 400, ``errors`` lists each field's
  location, message and type (never its value). So does quart-schema's
  ``RequestSchemaValidationError``.
- A ``Refused`` with ``http_status`` (and ``title``): that status, its message
  as the detail -- ``Forbidden`` 403, ``Unauthenticated`` 401 (with
  ``WWW-Authenticate: Bearer``: no or non-Bearer ``Authorization`` too).
- A ``RemoteError`` (a refusal that crossed nodes): by its ``error_type``
  (Forbidden 403, Unauthenticated/InvalidToken 401, NotFound 404, Conflict
  409), the transport's own (``enotime.*``) 502, else 400.
- Any other ``Refused``: 400 with its message.
- The store's ``NotFound`` / ``Conflict``: 404 / 409 with a fixed detail
  (document ids stay inside).
- ``CallTimeout``: 504. ``ActorExited``, ``ActorNotAlive``, ``NameNotFound``,
  ``MailboxFull``: 503 with ``Retry-After: 1``.
- Quart's and Werkzeug's HTTP errors keep their status: unknown route 404,
  wrong method 405 (with ``Allow``), body too large 413, not JSON 415; rate
  limited 429 with ``Retry-After``.
- Anything else: 500 with a fixed detail, logged with its traceback and the
  request id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

from pydantic import BaseModel, ValidationError
from quart import Response
from quart_rate_limiter import RateLimitExceeded
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from enotime.auth import InvalidToken
from enotime.errors import (
    ActorExited,
    CallTimeout,
    MailboxFull,
    NameNotFound,
    Refused,
)
from enotime.store import Conflict, NotFound
from enotime.transport import RemoteError

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "FieldError",
    "InvalidInput",
    "Problem",
    "ProblemDetails",
    "problem_for",
]

log = logging.getLogger("enotime.edge")

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_PREFIX: Final = "urn:enotime:problem:"

# A refusal that crossed nodes arrives as RemoteError with the remote type's name.
_REMOTE_STATUS: Final[Mapping[str, int]] = {
    "Forbidden": 403,
    "Unauthenticated": 401,
    "InvalidToken": 401,
    "NotFound": 404,
    "Conflict": 409,
    "UnknownActor": 503,
}


class FieldError(BaseModel):
    """One invalid field: where it is (["body", "title"]), what is wrong, and the error type."""

    loc: list[str | int]
    msg: str
    type: str


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 problem details (application/problem+json).

    errors lists the invalid fields of a 400; token_problem says why an access
    token was refused (401). request_id is the X-Request-ID of the answer.
    """

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    errors: list[FieldError] | None = None
    token_problem: str | None = None


class InvalidInput(Exception):
    """The request's body, query string or parameters do not fit the endpoint: a 400."""

    def __init__(self, location: str, error: ValidationError | ValueError) -> None:
        super().__init__(f"invalid {location}")
        self.location = location
        self.error = error


@dataclass(frozen=True, slots=True)
class Problem:
    """What to answer for one error, before the request's id and path are added."""

    status: int
    detail: str
    title: str = ""
    type: str = "about:blank"
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    unexpected: bool = False
    """A fault of the server, not of the request: logged with its traceback."""

    @property
    def display_title(self) -> str:
        """The title, or the status's reason phrase when there is none."""
        return self.title or _phrase(self.status)

    def response(self, *, request_id: str, instance: str) -> Response:
        """The problem+json response, with the request id in the body."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.display_title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "request_id": request_id,
            **self.extra,
        }
        return Response(
            json.dumps(body),
            status=self.status,
            headers=dict(self.headers),
            content_type=PROBLEM_CONTENT_TYPE,
        )


def problem_for(error: BaseException) -> Problem:
    """The problem to answer for ``error`` (see the module docstring for the mapping)."""
    if isinstance(error, InvalidToken):
        problem = str(error.problem)
        return Problem(
            401,
            str(error),
            title="Invalid access token",
            type=f"{PROBLEM_TYPE_PREFIX}invalid-token",
            extra={"token_problem": problem},
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{problem}"'
            },
        )
    if isinstance(error, InvalidInput):
        return _invalid(error.location, error.error)
    if isinstance(error, Refused):
        return _refused(error)
    if isinstance(error, NotFound | Conflict):
        status = 404 if isinstance(error, NotFound) else 409
        return Problem(status, _STORE_DETAILS[status])
    if isinstance(error, CallTimeout):
        return Problem(504, "the service did not answer in time")
    if isinstance(error, ActorExited | NameNotFound | MailboxFull):
        return Problem(503, "the service is unavailable: retry later", headers={"Retry-After": "1"})
    if isinstance(error, HTTPException):
        return _http(error)
    return Problem(
        500, "an unexpected error occurred; quote the request id to the operators", unexpected=True
    )


def _refused(error: Refused) -> Problem:
    if isinstance(error, RemoteError):
        if error.error_type.startswith("enotime."):  # the transport's own answers
            return Problem(502, "another node could not handle the request")
        status = _REMOTE_STATUS.get(error.error_type.rsplit(".", 1)[-1], 400)
        return _with_challenge(Problem(status, _STORE_DETAILS.get(status, error.text)))
    status = getattr(error, "http_status", 400)
    if not isinstance(status, int) or not 400 <= status <= 599:
        status = 400
    title = getattr(error, "title", "")
    return _with_challenge(
        Problem(
            status,
            str(error) or _phrase(status),
            title=title if isinstance(title, str) else "",
            type=f"{PROBLEM_TYPE_PREFIX}{_kebab(type(error).__name__)}",
        )
    )


def _with_challenge(problem: Problem) -> Problem:
    if problem.status != 401:
        return problem
    return Problem(
        problem.status,
        problem.detail,
        title=problem.title,
        type=problem.type,
        extra=problem.extra,
        headers={**problem.headers, "WWW-Authenticate": "Bearer"},
    )


def _invalid(location: str, error: ValidationError | ValueError) -> Problem:
    if isinstance(error, ValidationError):
        errors = [
            {"loc": [location, *item["loc"]], "msg": item["msg"], "type": item["type"]}
            for item in error.errors(include_url=False, include_context=False, include_input=False)
        ]
        fields = ", ".join(".".join(str(part) for part in item["loc"]) for item in errors)
        detail = f"the request's {location} is invalid: {fields}"
    else:
        errors = [{"loc": [location], "msg": str(error), "type": "value_error"}]
        detail = f"the request's {location} is invalid: {error}"
    return Problem(
        400,
        detail,
        title="Invalid request",
        type=f"{PROBLEM_TYPE_PREFIX}validation",
        extra={"errors": errors},
    )


def _http(error: HTTPException) -> Problem:
    status = error.code or 500
    if isinstance(error, RequestSchemaValidationError):
        inner = error.validation_error
        if isinstance(inner, ValidationError | ValueError):
            return _invalid("body", inner)
    headers: dict[str, str] = {}
    if isinstance(error, RateLimitExceeded):
        retry_after = error.retry_after
        headers["Retry-After"] = str(max(1, retry_after) if isinstance(retry_after, int) else 1)
        return Problem(status, "too many requests: retry later", headers=headers)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    detail = _HTTP_DETAILS.get(status) or _phrase(status)
    return Problem(status, detail, headers=headers, unexpected=status >= 500)


_STORE_DETAILS: Final[Mapping[int, str]] = {
    404: "the resource was not found",
    409: "the resource was changed meanwhile: read it again, then retry",
}

_HTTP_DETAILS: Final[Mapping[int, str]] = {
    400: "the request is malformed",
    404: "no such resource",
    405: "this resource does not answer this method",
    413: "the request body is too large",
    415: "the request body must be JSON (Content-Type: application/json)",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _kebab(name: str) -> str:
    out: list[str] = []
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out.append("-")
        out.append(char.lower())
    return "".join(out)
