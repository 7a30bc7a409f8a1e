"""Worker authorisation: the handler names its permission, the worker checks the caller first."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from enotime import Actor, ActorRef, Node, RequestContext, handler, request_context
from enotime.auth import Forbidden, Unauthenticated, Worker, public, requires
from enotime.errors import ActorExited
from enotime.messages import Request


@dataclass(frozen=True)
class ReadNotes(Request[list[str]]):
    account: str


@dataclass(frozen=True)
class WriteNote(Request[int]):
    account: str
    text: str


@dataclass(frozen=True)
class DeleteNotes(Request[int]):
    account: str


@dataclass(frozen=True)
class Forget:
    """A cast: fire and forget, nobody to answer."""

    account: str


@dataclass(frozen=True)
class Ping(Request[str]):
    """No account, no permission: public."""


@dataclass(frozen=True)
class Stats(Request[int]):
    """No account attribute: only the permission and scope are checked."""


class Notes(Worker):
    role_permissions = {
        "owner": frozenset({"notes:read", "notes:write", "notes:delete", "notes:stats"}),
        "admin": frozenset({"notes:*"}),
        "member": frozenset({"notes:read", "notes:write"}),
    }

    def __init__(self) -> None:
        self.notes: dict[str, list[str]] = {}
        self.ran: list[str] = []

    @handler
    @requires("notes:read")
    def read(self, msg: ReadNotes) -> list[str]:
        self.ran.append("read")
        return list(self.notes.get(msg.account, []))

    @handler
    @requires("notes:write")
    async def write(self, msg: WriteNote) -> int:
        self.ran.append("write")
        self.notes.setdefault(msg.account, []).append(msg.text)
        return len(self.notes[msg.account])

    @handler
    @requires("notes:delete")
    async def delete(self, msg: DeleteNotes) -> int:
        self.ran.append("delete")
        return len(self.notes.pop(msg.account, []))

    @handler
    @requires("notes:delete")
    def forget(self, msg: Forget) -> None:
        self.ran.append("forget")
        self.notes.pop(msg.account, None)

    @handler
    @requires("notes:stats")
    def stats(self, msg: Stats) -> int:
        return sum(map(len, self.notes.values()))

    @handler
    @public
    def ping(self, msg: Ping) -> str:
        return "pong"


class History(Request[list[str]]):
    """Test-only: what the handlers ran, asked without claims."""


class InspectableNotes(Notes):
    @handler
    @public
    def history(self, msg: History) -> list[str]:
        return list(self.ran)


def claims(
    *, sub: str = "alice", acct: str = "acme", roles: tuple[str, ...] = ("owner",), scope: str = "*"
) -> dict[str, Any]:
    return {"sub": sub, "acct": acct, "roles": list(roles), "scope": scope, "jti": "j"}


async def call_as(claims: Mapping[str, Any] | None, ref: ActorRef[Any], message: object) -> Any:
    if claims is None:
        return await ref.call(message, timeout=5)
    with request_context(RequestContext("req-1", claims)):
        return await ref.call(message, timeout=5)


@pytest.fixture
async def notes(node: Node) -> ActorRef[InspectableNotes]:
    return await node.spawn(InspectableNotes)


async def test_the_owner_may_do_everything_in_their_account(notes: ActorRef[Any]) -> None:
    owner = claims(roles=("owner",))
    assert await call_as(owner, notes, WriteNote("acme", "hello")) == 1
    assert await call_as(owner, notes, ReadNotes("acme")) == ["hello"]
    assert await call_as(owner, notes, DeleteNotes("acme")) == 1


async def test_a_member_calling_an_owner_only_action_is_forbidden(notes: ActorRef[Any]) -> None:
    member = claims(sub="bob", roles=("member",))
    assert await call_as(member, notes, WriteNote("acme", "mine")) == 1

    with pytest.raises(Forbidden, match="notes:delete") as caught:
        await call_as(member, notes, DeleteNotes("acme"))

    assert caught.value.http_status == 403
    assert await call_as(None, notes, History()) == ["write"]  # delete never ran
    assert notes.is_alive
    assert await call_as(member, notes, ReadNotes("acme")) == ["mine"]  # still serving


async def test_a_token_of_account_a_on_a_message_for_account_b_is_forbidden(
    notes: ActorRef[Any],
) -> None:
    owner_of_a = claims(acct="account-a", roles=("owner",))
    with pytest.raises(Forbidden, match="not valid for this account"):
        await call_as(owner_of_a, notes, ReadNotes("account-b"))
    with pytest.raises(Forbidden):
        await call_as(owner_of_a, notes, DeleteNotes("account-b"))
    assert await call_as(None, notes, History()) == []


async def test_claims_without_an_account_match_no_account(notes: ActorRef[Any]) -> None:
    no_account = {key: value for key, value in claims().items() if key != "acct"}
    with pytest.raises(Forbidden, match="not valid for this account"):
        await call_as(no_account, notes, ReadNotes(None))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "who",
    [
        None,  # no request context at all
        {},  # a context without claims (internal work)
        {"acct": "acme", "roles": ["owner"], "scope": "*"},  # no subject
        {"sub": "", "acct": "acme", "roles": ["owner"], "scope": "*"},
    ],
)
async def test_no_claims_is_unauthenticated(
    notes: ActorRef[Any], who: dict[str, Any] | None
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await call_as(who, notes, ReadNotes("acme"))
    assert caught.value.http_status == 401
    assert not isinstance(caught.value, Forbidden)
    assert notes.is_alive


async def test_a_scope_narrower_than_the_permission_is_forbidden(notes: ActorRef[Any]) -> None:
    read_only = claims(roles=("owner",), scope="notes:read")
    assert await call_as(read_only, notes, ReadNotes("acme")) == []
    with pytest.raises(Forbidden, match="scope"):
        await call_as(read_only, notes, WriteNote("acme", "x"))


@pytest.mark.parametrize("scope", ["*", "notes:*", "profile notes:write", "notes:write"])
async def test_a_scope_covers_a_permission_by_name_prefix_or_star(
    notes: ActorRef[Any], scope: str
) -> None:
    assert await call_as(claims(scope=scope), notes, WriteNote("acme", "x")) == 1


@pytest.mark.parametrize("scope", ["", "notes", "note:*", "notes:writer", "notes:read*"])
async def test_a_scope_that_only_looks_similar_does_not_cover(
    notes: ActorRef[Any], scope: str
) -> None:
    with pytest.raises(Forbidden):
        await call_as(claims(scope=scope), notes, WriteNote("acme", "x"))


async def test_a_role_granting_a_prefix_wildcard_covers_the_prefix(notes: ActorRef[Any]) -> None:
    admin = claims(roles=("admin",))
    assert await call_as(admin, notes, DeleteNotes("acme")) == 0


@pytest.mark.parametrize("roles", [(), ("guest",), ("OWNER",)])
async def test_unknown_roles_grant_nothing(notes: ActorRef[Any], roles: tuple[str, ...]) -> None:
    with pytest.raises(Forbidden):
        await call_as(claims(roles=roles), notes, ReadNotes("acme"))


async def test_malformed_roles_or_scope_claims_grant_nothing(notes: ActorRef[Any]) -> None:
    for bad in ({"roles": "owner"}, {"roles": None}, {"scope": ["*"]}, {"scope": None}):
        with pytest.raises(Forbidden):
            await call_as({**claims(), **bad}, notes, ReadNotes("acme"))


async def test_a_message_without_an_account_is_checked_by_permission_only(
    notes: ActorRef[Any],
) -> None:
    assert await call_as(claims(roles=("owner",)), notes, Stats()) == 0
    with pytest.raises(Forbidden):
        await call_as(claims(roles=("member",)), notes, Stats())


async def test_a_public_handler_runs_for_anyone(notes: ActorRef[Any]) -> None:
    assert await call_as(None, notes, Ping()) == "pong"


async def test_a_refused_send_is_logged_and_dropped_and_the_worker_keeps_running(
    node: Node, notes: ActorRef[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="enotime")
    member = claims(sub="bob", roles=("member",))
    await call_as(member, notes, WriteNote("acme", "keep me"))

    with request_context(RequestContext("req-cast", member)):
        notes.send(Forget("acme"))
    notes.send(Forget("acme"))  # and without any claims

    # The mailbox is FIFO: once this call is answered, both casts were handled.
    assert await call_as(member, notes, ReadNotes("acme")) == ["keep me"]
    assert notes.is_alive
    assert await call_as(None, notes, History()) == ["write", "read"]
    refused = [d.reason for d in node.dead_letters if isinstance(d.message, Forget)]
    assert len(refused) == 2
    assert "Forbidden" in refused[0]
    assert "notes:delete" in refused[0]
    assert "Unauthenticated" in refused[1]
    assert "req-cast" in caplog.text


async def test_an_allowed_send_runs_its_handler(notes: ActorRef[Any]) -> None:
    owner = claims()
    await call_as(owner, notes, WriteNote("acme", "x"))
    with request_context(RequestContext("req-2", owner)):
        notes.send(Forget("acme"))
    assert await call_as(owner, notes, ReadNotes("acme")) == []


class MeteredNotes(InspectableNotes):
    metered = True


async def test_a_metered_worker_is_checked_the_same_way(node: Node) -> None:
    ref = await node.spawn(MeteredNotes)
    member = claims(roles=("member",))
    with pytest.raises(Forbidden):
        await call_as(member, ref, DeleteNotes("acme"))
    with request_context(RequestContext("req-3", member)):
        ref.send(Forget("acme"))
    assert await call_as(None, ref, History()) == []
    assert ref.is_alive


async def test_the_check_runs_when_a_handler_is_called_directly() -> None:
    worker = Notes()
    with pytest.raises(Unauthenticated):
        worker.read(ReadNotes("acme"))
    with request_context(RequestContext("r", claims())):
        assert worker.read(ReadNotes("acme")) == []


class Audited(Notes):
    """A worker adding its own rule on top of the standard ones."""

    def authorise(self, permission: str, message: object) -> None:
        super().authorise(permission, message)
        context = self.context
        assert context is not None
        if permission == "notes:delete" and "mfa" not in context.claims.get("amr", []):
            raise Forbidden("deleting notes needs a multi-factor login")


async def test_a_worker_may_add_rules_by_overriding_authorise(node: Node) -> None:
    ref = await node.spawn(Audited)
    with pytest.raises(Forbidden, match="multi-factor"):
        await call_as({**claims(), "amr": ["pwd"]}, ref, DeleteNotes("acme"))
    assert await call_as({**claims(), "amr": ["pwd", "mfa"]}, ref, DeleteNotes("acme")) == 0


# -- declaring policies ------------------------------------------------------------


def test_a_worker_handler_without_a_policy_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"Open\.read declares no permission"):

        class Open(Worker):
            @handler
            def read(self, msg: ReadNotes) -> list[str]:
                return []


def test_requires_none_is_public() -> None:
    class Explicit(Worker):
        @handler
        @requires(None)
        def ping(self, msg: Ping) -> str:
            return "pong"

    assert Explicit().ping(Ping()) == "pong"


async def test_requires_may_also_sit_above_handler(node: Node) -> None:
    class Above(Worker):
        role_permissions = {"owner": frozenset({"notes:read"})}

        @requires("notes:read")
        @handler
        async def read(self, msg: ReadNotes) -> list[str]:
            return ["ok"]

    ref = await node.spawn(Above)
    assert await call_as(claims(), ref, ReadNotes("acme")) == ["ok"]
    with pytest.raises(Forbidden):
        await call_as(claims(roles=("member",)), ref, ReadNotes("acme"))


def test_the_handler_keeps_its_name_signature_and_async_nature() -> None:
    import inspect

    assert Notes.write.__name__ == "write"
    assert inspect.iscoroutinefunction(Notes.write)
    assert not inspect.iscoroutinefunction(Notes.read)
    assert list(inspect.signature(Notes.read).parameters) == ["self", "msg"]


@pytest.mark.parametrize("bad", ["", "notes delete", "*", "notes:*", " notes:read", 7])
def test_a_permission_must_be_a_plain_name(bad: Any) -> None:
    with pytest.raises(ValueError, match="permission"):
        requires(bad)


def test_a_handler_declares_its_policy_once() -> None:
    def read(self: Any, msg: ReadNotes) -> list[str]:
        return []

    with pytest.raises(TypeError, match="already"):
        public(requires("notes:read")(read))
    with pytest.raises(TypeError, match="already"):
        requires("notes:write")(requires("notes:read")(read))


def test_role_permissions_must_map_roles_to_permission_sets() -> None:
    with pytest.raises(TypeError, match="role_permissions"):

        class Sloppy(Worker):
            role_permissions = {"owner": "notes:read"}  # type: ignore[dict-item]


def test_a_worker_must_keep_refusals_that_answer_instead_of_crashing() -> None:
    with pytest.raises(TypeError, match="refusals"):

        class Brittle(Worker):
            refusals = (KeyError,)


async def test_requires_on_a_plain_actor_fails_loudly(node: Node) -> None:
    class NotAWorker(Actor):
        @handler
        @requires("notes:read")
        def read(self, msg: ReadNotes) -> list[str]:
            return []

    ref = await node.spawn(NotAWorker)
    with pytest.raises(ActorExited):
        await call_as(claims(), ref, ReadNotes("acme"))
