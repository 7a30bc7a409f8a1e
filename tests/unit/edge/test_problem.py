"""Which error becomes which problem: the front's errors -> HTTP mapping."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError
from quart_rate_limiter import RateLimitExceeded
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge
from werkzeug.exceptions import NotFound as RouteNotFound

from enotime import NORMAL
from enotime.auth import Forbidden, InvalidToken, TokenProblem, Unauthenticated
from enotime.edge import InputModel
from enotime.edge._problem import InvalidInput, problem_for
from enotime.errors import (
    ActorExited,
    ActorNotAlive,
    CallTimeout,
    MailboxFull,
    NameNotFound,
    Refused,
    UnhandledMessage,
)
from enotime.store import Conflict, NotFound
from enotime.transport import RemoteError


class Gone(Refused):
    http_status: ClassVar[int] = 410
    title: ClassVar[str] = "Gone for good"


class Nonsense(Refused):
    http_status: ClassVar[int] = 200  # not an error status: ignored


class Title(InputModel):
    title: str


def invalid_title() -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Title.model_validate({"title": 1, "extra": True})
    return caught.value


@pytest.mark.parametrize(
    ("error", "status", "problem_type"),
    [
        (Forbidden("no"), 403, "urn:enotime:problem:forbidden"),
        (Unauthenticated("who?"), 401, "urn:enotime:problem:unauthenticated"),
        (InvalidToken(TokenProblem.EXPIRED), 401, "urn:enotime:problem:invalid-token"),
        (Gone("moved away"), 410, "urn:enotime:problem:gone"),
        (Nonsense("odd"), 400, "urn:enotime:problem:nonsense"),
        (Refused("plain"), 400, "urn:enotime:problem:refused"),
        (NotFound("note:1"), 404, "about:blank"),
        (Conflict("note:1", "1-a"), 409, "about:blank"),
        (CallTimeout("ref", object(), 1.0), 504, "about:blank"),
        (ActorExited("ref", NORMAL), 503, "about:blank"),
        (ActorNotAlive("ref", NORMAL), 503, "about:blank"),
        (NameNotFound("notes"), 503, "about:blank"),
        (MailboxFull("ref", 10), 503, "about:blank"),
        (RouteNotFound(), 404, "about:blank"),
        (MethodNotAllowed(["GET"]), 405, "about:blank"),
        (RequestEntityTooLarge(), 413, "about:blank"),
        (RateLimitExceeded(7), 429, "about:blank"),
        (RemoteError("Forbidden", "not yours"), 403, "about:blank"),
        (RemoteError("notes.NotFound", "gone"), 404, "about:blank"),
        (RemoteError("Odd", "refused remotely"), 400, "about:blank"),
        (RemoteError("enotime.DeadLettered", "no route"), 502, "about:blank"),
        (InvalidInput("body", invalid_title()), 400, "urn:enotime:problem:validation"),
        (
            RequestSchemaValidationError(invalid_title()),  # a route validated by quart-schema
            400,
            "urn:enotime:problem:validation",
        ),
        (UnhandledMessage("ref", object()), 500, "about:blank"),
        (KeyError("internal"), 500, "about:blank"),
    ],
)
def test_the_status_and_type_of_each_error(
    error: Exception, status: int, problem_type: str
) -> None:
    problem = problem_for(error)

    assert problem.status == status
    assert problem.type == problem_type
    assert problem.unexpected == (status == 500)


def test_a_refusal_shows_its_message_and_title() -> None:
    problem = problem_for(Gone("moved away"))

    assert problem.detail == "moved away"
    assert problem.title == "Gone for good"


def test_an_invalid_token_names_its_problem_in_the_body_and_the_challenge() -> None:
    problem = problem_for(InvalidToken(TokenProblem.UNKNOWN_KID))

    assert problem.extra == {"token_problem": "unknown_kid"}
    assert problem.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="unknown_kid"'
    )


def test_every_401_challenges_for_a_bearer_token() -> None:
    assert problem_for(Unauthenticated("who?")).headers == {"WWW-Authenticate": "Bearer"}
    assert problem_for(RemoteError("Unauthenticated", "x")).headers == {
        "WWW-Authenticate": "Bearer"
    }


def test_validation_lists_each_field_without_its_value() -> None:
    problem = problem_for(InvalidInput("body", invalid_title()))

    assert problem.extra == {
        "errors": [
            {
                "loc": ["body", "title"],
                "msg": "Input should be a valid string",
                "type": "string_type",
            },
            {
                "loc": ["body", "extra"],
                "msg": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            },
        ]
    }
    assert problem.detail == "the request's body is invalid: body.title, body.extra"


def test_store_errors_keep_their_document_ids_inside() -> None:
    assert "note:1" not in problem_for(NotFound("note:1")).detail
    assert "note:1" not in problem_for(Conflict("note:1", "1-a")).detail
    remote = RemoteError("NotFound", "document 'note:1' not found")
    assert "note:1" not in problem_for(remote).detail


def test_rate_limited_and_wrong_method_answers_keep_their_headers() -> None:
    assert problem_for(RateLimitExceeded(7)).headers == {"Retry-After": "7"}
    assert problem_for(RateLimitExceeded(0)).headers == {"Retry-After": "1"}
    assert problem_for(MethodNotAllowed(["GET", "HEAD"])).headers == {"Allow": "GET, HEAD"}


def test_an_unexpected_error_says_nothing_of_itself() -> None:
    problem = problem_for(KeyError("database password is hunter2"))

    assert "hunter2" not in problem.detail
    assert "KeyError" not in problem.detail
