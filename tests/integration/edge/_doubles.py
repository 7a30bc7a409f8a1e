"""Test doubles behind the front: a notes worker, a login stand-in, and their endpoints."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from enotime import Actor, current_context, handler
from enotime.auth import Forbidden
from enotime.edge import Endpoint, InputModel, RateLimit
from enotime.errors import Refused
from enotime.messages import Request
from enotime.store import Conflict, NotFound
from tests._login_stand_in import LoginStandIn

# -- messages the worker handles ------------------------------------------------------


@dataclass(frozen=True)
class CreateNote(Request["Note"]):
    account: str
    title: str
    body: str


@dataclass(frozen=True)
class GetNote(Request["Note"]):
    account: str
    note_id: int


@dataclass(frozen=True)
class DeleteNote(Request[None]):
    account: str
    note_id: int


@dataclass(frozen=True)
class ListNotes(Request[dict[str, Any]]):
    account: str
    limit: int


@dataclass(frozen=True)
class WhoAmI(Request[dict[str, Any]]):
    pass


@dataclass(frozen=True)
class Park(Request[dict[str, Any]]):
    """Wait until the test releases the worker (a slow handler)."""


@dataclass(frozen=True)
class Misbehave(Request[object]):
    how: str


@dataclass(frozen=True)
class Note:
    id: int
    account: str
    title: str
    body: str
    secret: str = "never shown: not in the output model"


class TeapotRefusal(Refused):
    """A refusal with its own status, as a worker may declare one."""

    http_status: ClassVar[int] = 418
    title: ClassVar[str] = "Teapot"


@dataclass
class Seen:
    """What the worker saw of the request context, for the tests to read."""

    request_id: str | None = None
    claims: Mapping[str, Any] | None = None
    parked: asyncio.Event = field(default_factory=asyncio.Event)


class NotesWorker(Actor):
    """A per-account notes service: the target of the test endpoints.

    It checks one permission by hand (only an ``owner`` deletes) so a 403
    comes from a worker's ``Forbidden``, as in the real system. The store's
    ``NotFound`` and ``Conflict`` answer the caller instead of crashing it.
    """

    refusals = (Refused, NotFound, Conflict)

    def __init__(self, seen: Seen, parked: asyncio.Event) -> None:
        self.seen = seen
        self.parked = parked
        self.notes: dict[int, Note] = {}
        self.ids = itertools.count(1)

    @handler
    def create(self, message: CreateNote) -> Note:
        self._remember()
        note = Note(next(self.ids), message.account, message.title, message.body)
        self.notes[note.id] = note
        return note

    @handler
    def get(self, message: GetNote) -> Note:
        note = self.notes.get(message.note_id)
        if note is None or note.account != message.account:
            raise NotFound(f"note:{message.note_id}")
        return note

    @handler
    def delete(self, message: DeleteNote) -> None:
        context = current_context()
        if context is None or "owner" not in context.claims.get("roles", []):
            raise Forbidden("only an owner may delete notes")
        self.notes.pop(message.note_id, None)

    @handler
    def list_notes(self, message: ListNotes) -> dict[str, Any]:
        notes = [note for note in self.notes.values() if note.account == message.account]
        return {"notes": notes[: message.limit]}

    @handler
    def who_am_i(self, message: WhoAmI) -> dict[str, Any]:
        self._remember()
        context = current_context()
        assert context is not None
        return {"request_id": context.request_id, "sub": context.claims.get("sub")}

    @handler
    async def park(self, message: Park) -> dict[str, Any]:
        self.seen.parked.set()
        await self.parked.wait()
        return {"request_id": "parked", "sub": None}

    @handler
    def misbehave(self, message: Misbehave) -> object:
        if message.how == "teapot":
            raise TeapotRefusal("I am a teapot")
        if message.how == "refuse":
            raise Refused("notes are read-only today")
        if message.how == "conflict":
            raise Conflict("note:1", "1-abc")
        if message.how == "bad-reply":
            return {"unexpected": "shape"}
        raise ValueError(f"unknown misbehaviour {message.how!r}")

    def _remember(self) -> None:
        context = current_context()
        self.seen.request_id = context.request_id if context else None
        self.seen.claims = context.claims if context else None


@dataclass(frozen=True)
class JwksFetches(Request[int]):
    pass


class CountingLogin(LoginStandIn):
    @handler
    def fetches(self, message: JwksFetches) -> int:
        return self.jwks_fetches


# -- the HTTP side ----------------------------------------------------------------------


class NoteIn(InputModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(default="", max_length=1000)


class NoteOut(BaseModel):
    id: int
    account: str
    title: str
    body: str


class NoteList(BaseModel):
    notes: list[NoteOut]


class ListQuery(InputModel):
    limit: int = Field(default=10, ge=1, le=100)


class Identity(BaseModel):
    request_id: str
    sub: str | None


class MisbehaveIn(InputModel):
    how: str


def endpoints() -> list[Endpoint]:
    """The routes the tests call."""
    return [
        Endpoint(
            method="POST",
            path="/accounts/<account>/notes",
            target="notes",
            message=CreateNote,
            input=NoteIn,
            output=NoteOut,
            status=201,
            summary="Create a note",
            tags=("notes",),
        ),
        Endpoint(
            method="GET",
            path="/accounts/<account>/notes/<int:note_id>",
            target="notes",
            message=GetNote,
            output=NoteOut,
            summary="Read a note",
            tags=("notes",),
        ),
        Endpoint(
            method="DELETE",
            path="/accounts/<account>/notes/<int:note_id>",
            target="notes",
            message=DeleteNote,
            summary="Delete a note (owners only)",
            tags=("notes",),
        ),
        Endpoint(
            method="GET",
            path="/accounts/<account>/notes",
            target="notes",
            message=ListNotes,
            query=ListQuery,
            output=NoteList,
            summary="List notes",
            tags=("notes",),
        ),
        Endpoint(
            method="GET",
            path="/whoami",
            target="notes",
            message=WhoAmI,
            output=Identity,
            summary="Who the front says I am",
        ),
        Endpoint(
            method="GET",
            path="/public/whoami",
            target="notes",
            message=WhoAmI,
            output=Identity,
            public=True,
            summary="A public route",
            rate_limits=(RateLimit(count=3, period=60.0),),
        ),
        Endpoint(
            method="POST",
            path="/misbehave",
            target="notes",
            message=Misbehave,
            input=MisbehaveIn,
            output=NoteOut,
            public=True,
            summary="Make the worker fail in a chosen way",
        ),
        Endpoint(
            method="GET",
            path="/park",
            target="notes",
            message=Park,
            output=Identity,
            public=True,
            timeout=30.0,
            summary="Wait until the test releases the worker",
        ),
        Endpoint(
            method="GET",
            path="/slow",
            target="notes",
            message=Park,
            output=Identity,
            public=True,
            timeout=0.2,
            summary="Give up on the worker quickly",
        ),
        Endpoint(
            method="GET",
            path="/nobody",
            target="nobody",
            message=WhoAmI,
            output=Identity,
            public=True,
            summary="A route to an actor that is not running",
        ),
    ]
