"""Endpoint declarations are checked when they are made: wiring bugs fail at import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from enotime import Node
from enotime.auth import TokenVerifier
from enotime.edge import EdgeConfig, Endpoint, InputModel, Page, PageField, RateLimit
from enotime.edge._app import create_app
from enotime.edge._bearer import BearerAuthentication
from enotime.edge._jwks import JwksCache

ISSUER, AUDIENCE = "https://login.test", "api"


@dataclass(frozen=True)
class Rename:
    account: str
    note_id: int
    title: str


class TitleIn(InputModel):
    title: str


class Loose(BaseModel):
    title: str


class Out(BaseModel):
    ok: bool


def rename(**overrides: Any) -> Endpoint:
    settings: dict[str, Any] = {
        "method": "PATCH",
        "path": "/accounts/<account>/notes/<int:note_id>",
        "target": "notes",
        "message": Rename,
        "input": TitleIn,
        "output": Out,
    }
    settings.update(overrides)
    return Endpoint(**settings)


def test_a_declaration_knows_its_parameters_name_and_status() -> None:
    endpoint = rename(method="patch")

    assert endpoint.method == "PATCH"
    assert endpoint.path_parameters == ("account", "note_id")
    assert endpoint.operation_name == "accounts_account_notes_note_id"
    assert endpoint.route_name == "patch_accounts_account_notes_note_id"
    assert endpoint.success_status == 200
    assert rename(output=None).success_status == 204
    assert rename(status=202).success_status == 202
    assert rename(name="rename_note").route_name == "patch_rename_note"


def test_the_default_message_takes_the_input_fields_and_path_parameters() -> None:
    message = rename().build(TitleIn(title=" new "), None, {"account": "acme", "note_id": 3})

    assert message == Rename(account="acme", note_id=3, title="new")


def test_a_factory_builds_the_message_from_the_input_and_parameters() -> None:
    def make(data: BaseModel | None, params: Mapping[str, Any]) -> Rename:
        assert isinstance(data, TitleIn)
        return Rename(params["account"], params["note_id"], data.title.upper())

    message = rename(message=make).build(TitleIn(title="x"), None, {"account": "a", "note_id": 1})

    assert message == Rename("a", 1, "X")


def test_an_input_model_must_refuse_unknown_fields() -> None:
    with pytest.raises(TypeError, match="must refuse unknown fields"):
        rename(input=Loose)

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")
        title: str

    assert rename(input=Strict).input is Strict


def test_the_message_must_be_buildable_from_the_declared_fields() -> None:
    class Untitled(InputModel):
        text: str

    with pytest.raises(TypeError, match="cannot be built from"):
        rename(input=Untitled)


def test_a_name_may_not_be_both_a_path_parameter_and_an_input_field() -> None:
    class Clash(InputModel):
        account: str
        title: str

    with pytest.raises(ValueError, match="'account' is a path and a input field"):
        rename(input=Clash)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"method": "TRACE"}, "method must be one of"),
        ({"path": "notes"}, "must start with '/'"),
        ({"target": ""}, "target actor's name is empty"),
        ({"method": "GET"}, "takes no body"),
        ({"status": 404}, "must be 2xx"),
        ({"timeout": 0.0}, "timeout must be positive"),
        ({"errors": (200,)}, "must be 4xx or 5xx"),
    ],
)
def test_malformed_declarations_are_refused(overrides: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        rename(**overrides)


def test_the_input_model_strips_and_bounds_strings() -> None:
    assert TitleIn(title="  spaced  ").title == "spaced"
    with pytest.raises(ValueError, match="at most 8192"):
        TitleIn(title="x" * 8193)


@pytest.mark.parametrize(
    ("count", "period"), [(0, 60.0), (-1, 60.0), (True, 60.0), (5, 0.0), (5, float("inf"))]
)
def test_a_rate_limit_needs_a_positive_count_and_period(count: int, period: float) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(count, period)


@dataclass(frozen=True)
class Ping:
    pass


async def test_an_app_refuses_two_endpoints_on_one_route_or_name(node: Node) -> None:
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE)
    keys = JwksCache(verifier, node=node, source="login", floor=1.0, clock=node.clock.monotonic)
    authentication = BearerAuthentication(verifier, keys)

    def app(*routes: Endpoint) -> None:
        create_app(routes, EdgeConfig(), node=node, authentication=authentication, jwks=keys)

    app(rename(), rename(method="PUT", name="replace"))  # one path, two methods: fine
    with pytest.raises(ValueError, match="served already"):
        app(rename(), rename(name="other"))
    with pytest.raises(ValueError, match="is taken"):
        app(rename(), rename(path="/notes/<account>/<int:note_id>", name=rename().operation_name))
    with pytest.raises(ValueError, match="served already"):
        app(Endpoint(method="GET", path="/healthz", target="notes", message=Ping))


@dataclass(frozen=True)
class Confirm:
    token: str
    password: str


class ConfirmIn(InputModel):
    token: str
    password: str


def confirm(**overrides: Any) -> Endpoint:
    page = Page(title="Confirm", button="Go", fields=(PageField("password", "Password"),))
    settings: dict[str, Any] = {"method": "POST", "path": "/confirm", "message": Confirm}
    settings.update(input=ConfirmIn, output=None, public=True, page=page)
    return rename(**{**settings, **overrides})


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"public": False}, "a page needs a public POST"),
        ({"method": "PUT"}, "a page needs a public POST"),
        ({"page": Page(title="Confirm", button="Go")}, r"required fields \['password'\]"),
        (
            {"page": Page(title="T", button="B", from_query=("token", "nonce"))},
            r"names \['nonce'\]",
        ),
        (
            {"page": Page(title="T", button="B", fields=(PageField("token", "Token"),))},
            "twice",
        ),
    ],
)
def test_a_page_must_fill_its_endpoints_input(overrides: dict[str, Any], error: str) -> None:
    confirm()  # the well-formed one
    with pytest.raises(ValueError, match=error):
        confirm(**overrides)


async def test_a_pages_get_may_not_take_a_route_already_served(node: Node) -> None:
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE)
    keys = JwksCache(verifier, node=node, source="login", floor=1.0, clock=node.clock.monotonic)
    authentication = BearerAuthentication(verifier, keys)
    taken = Endpoint(method="GET", path="/confirm", target="login", message=Ping, public=True)

    with pytest.raises(ValueError, match="its page: GET /confirm is served already"):
        create_app(
            [taken, confirm()], EdgeConfig(), node=node, authentication=authentication, jwks=keys
        )
