"""The accounts' endpoint declarations: each route builds its message and shapes its reply.

The requests below go through the declarations as the front uses them
(validate the body, build the message from it and the path, call the actor,
validate the reply against the output model), without the HTTP server.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from enotime import RequestContext, request_context
from enotime.auth import Forbidden
from enotime.edge import Endpoint
from enotime.login._accounts_endpoints import endpoints
from enotime.login._memberships import roles_of

from ._world import ELSEWHERE, World, token_in

ONE = "/accounts/<string(maxlength=64):account>"
MEMBER = f"{ONE}/members/<string(maxlength=64):user>"


def route(method: str, path: str) -> Endpoint:
    [endpoint] = [e for e in endpoints() if e.method == method and e.path == path]
    return endpoint


async def request(
    world: World,
    method: str,
    path: str,
    *,
    caller: tuple[str, str],
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """What the front would answer (as JSON data) to ``caller`` = (user, token's account)."""
    user, account = caller
    endpoint = route(method, path)
    data = None if endpoint.input is None else endpoint.input.model_validate(body or {})
    message = endpoint.build(data, None, params or {})
    claims = world.claims(user, account, await roles_of(world.store, user, account))
    with request_context(RequestContext("req-http", claims)):
        reply = await world.accounts.call(message)
    if endpoint.output is None:
        assert reply is None
        return None
    answer: BaseModel = endpoint.output.model_validate(reply, from_attributes=True)
    return answer.model_dump(mode="json")


def test_the_routes_and_their_statuses() -> None:
    declared = {(e.method, e.path): e.success_status for e in endpoints()}

    assert declared == {
        ("POST", "/accounts"): 201,
        ("GET", "/accounts"): 200,
        ("POST", "/accounts/invitations/accept"): 200,
        ("GET", f"{ONE}/members"): 200,
        ("POST", f"{ONE}/invitations"): 201,
        ("PUT", MEMBER): 200,
        ("DELETE", MEMBER): 204,
    }
    assert all(not e.public and e.target == "accounts" for e in endpoints())
    teams = endpoints("/teams", target="teams")
    assert {e.target for e in teams} == {"teams"}
    assert all(e.path.startswith("/teams") for e in teams)


async def test_a_whole_session_through_the_declarations(world: World) -> None:
    ada, bob = ("ada", ELSEWHERE), ("bob", ELSEWHERE)

    created = await request(world, "POST", "/accounts", caller=ada, body={"name": " Acme "})
    assert created is not None
    acme = created["account"]
    assert created == {"account": acme, "name": "Acme", "role": "owner"}
    ada = ("ada", acme)

    invite = {"email": "bob@example.com", "role": "admin"}
    sent = await request(
        world, "POST", f"{ONE}/invitations", caller=ada, body=invite, params={"account": acme}
    )
    assert sent is not None
    assert (sent["account"], sent["role"]) == (acme, "admin")

    accept = {"token": token_in(await world.mail())}
    joined = await request(world, "POST", "/accounts/invitations/accept", caller=bob, body=accept)
    assert joined == {"account": acme, "name": "Acme", "role": "admin"}
    bob = ("bob", acme)

    listed = await request(world, "GET", "/accounts", caller=bob)
    assert listed == {"accounts": [{"account": acme, "name": "Acme", "role": "admin"}]}

    path = {"account": acme, "user": "bob"}
    changed = await request(world, "PUT", MEMBER, caller=ada, body={"role": "member"}, params=path)
    assert changed == {"user": "bob", "role": "member"}

    members = await request(world, "GET", f"{ONE}/members", caller=ada, params={"account": acme})
    assert members == {
        "account": acme,
        "members": [{"user": "ada", "role": "owner"}, {"user": "bob", "role": "member"}],
    }

    assert await request(world, "DELETE", MEMBER, caller=("bob", acme), params=path) is None
    assert await roles_of(world.store, "bob", acme) == []


async def test_the_path_names_the_account_the_token_must_be_for(world: World) -> None:
    acme = await world.create("ada", "Acme")
    mine = await world.create("mallory", "Mallory's")

    with pytest.raises(Forbidden):
        await request(
            world, "GET", f"{ONE}/members", caller=("mallory", mine), params={"account": acme}
        )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/accounts", {"name": ""}),
        ("POST", "/accounts", {"name": "x" * 101}),
        ("POST", "/accounts", {"name": "Acme", "owner": "mallory"}),
        ("POST", f"{ONE}/invitations", {"email": "not an address", "role": "member"}),
        ("POST", f"{ONE}/invitations", {"email": "a@example.com", "role": "root"}),
        ("POST", "/accounts/invitations/accept", {"token": ""}),
        ("POST", "/accounts/invitations/accept", {"token": "x" * 129}),
        ("PUT", MEMBER, {"role": "superuser"}),
        ("PUT", MEMBER, {}),
    ],
)
def test_bad_input_is_refused_by_the_input_models(
    method: str, path: str, body: dict[str, Any]
) -> None:
    model = route(method, path).input
    assert model is not None

    with pytest.raises(ValidationError):
        model.model_validate(body)
