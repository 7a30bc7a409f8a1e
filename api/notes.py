"""The notes service's HTTP side: four declared endpoints, no logic.

Each declaration names the input model, the actor (``notes``) and its
message, and the output model; the front validates, authenticates, calls
and converts. Whether the caller may do it is decided by the worker
(:class:`actors.notes.Notes`), never here.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from actors.notes import CreateNote, DeleteNote, GetNote, ListNotes
from enotime.edge import Endpoint, InputModel

__all__ = ["NoteIn", "NoteListOut", "NoteOut", "endpoints"]

ACCOUNT = "<string(maxlength=64):account>"
NOTE = "<string(maxlength=64):note>"


class NoteIn(InputModel):
    """A new note."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)


class NoteOut(BaseModel):
    """A note."""

    id: str
    account: str
    title: str
    body: str
    created: float


class NoteListOut(BaseModel):
    """An account's notes, newest first."""

    notes: list[NoteOut]


def endpoints(prefix: str = "/accounts") -> list[Endpoint]:
    """The notes endpoints, under ``{prefix}/<account>/notes``."""
    base = f"{prefix}/{ACCOUNT}/notes"
    tags = ("notes",)
    return [
        Endpoint(
            method="POST",
            path=base,
            target="notes",
            message=CreateNote,
            input=NoteIn,
            output=NoteOut,
            status=201,
            summary="Write a note in an account",
            tags=tags,
        ),
        Endpoint(
            method="GET",
            path=base,
            target="notes",
            message=ListNotes,
            output=NoteListOut,
            summary="List an account's notes",
            tags=tags,
        ),
        Endpoint(
            method="GET",
            path=f"{base}/{NOTE}",
            target="notes",
            message=GetNote,
            output=NoteOut,
            summary="Read a note",
            tags=tags,
        ),
        Endpoint(
            method="DELETE",
            path=f"{base}/{NOTE}",
            target="notes",
            message=DeleteNote,
            summary="Delete a note (owners and admins)",
            tags=tags,
        ),
    ]
