"""Per-account notes: the reference system's example worker service.

A :class:`~enotime.auth.Worker`: each handler declares the permission it needs,
and the worker checks the caller's claims before the handler runs. Owners and
admins may delete notes; members may read and write them. A note's title and
body are sealed by the store actor (only the account id is stored in plain
text, to find an account's notes), so a copy of the database shows nothing.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from enotime import handler
from enotime.auth import Worker, requires
from enotime.errors import Refused
from enotime.messages import Request
from enotime.store import DocumentType, NotFound, Record, StoreClient

__all__ = [
    "NOTE",
    "CreateNote",
    "DeleteNote",
    "GetNote",
    "ListNotes",
    "NoteList",
    "NoteNotFound",
    "NoteView",
    "Notes",
]

NOTE_ID = re.compile(r"note-[0-9a-f]{24}")
"""What a note id looks like; anything else names no note (and never reaches the store)."""

NOTE = DocumentType(
    "note", public=frozenset({"account", "created"}), indexed=frozenset({"account"})
)
"""Notes as the store keeps them: title and body sealed, account and created plain."""


@dataclass(frozen=True, slots=True)
class NoteView:
    """A note as its readers see it."""

    id: str
    account: str
    title: str
    body: str
    created: float


@dataclass(frozen=True, slots=True)
class NoteList:
    """An account's notes, newest first."""

    notes: list[NoteView]


@dataclass(frozen=True, slots=True)
class CreateNote(Request[NoteView]):
    account: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class ListNotes(Request[NoteList]):
    account: str


@dataclass(frozen=True, slots=True)
class GetNote(Request[NoteView]):
    account: str
    note: str


@dataclass(frozen=True, slots=True)
class DeleteNote(Request[None]):
    account: str
    note: str


class NoteNotFound(Refused):
    """No note with this id in this account (answered 404)."""

    http_status = 404
    title = "Not found"


class Notes(Worker):
    """Keeps each account's notes in the encrypted store.

    Args:
        store: Name of the store actor (it must know :data:`NOTE`).
    """

    metered = True  # handler latency on the dashboards: enotime_actor_handler_duration_seconds
    role_permissions = {
        "owner": frozenset({"notes:read", "notes:write", "notes:delete"}),
        "admin": frozenset({"notes:read", "notes:write", "notes:delete"}),
        "member": frozenset({"notes:read", "notes:write"}),
    }

    def __init__(self, store: str = "store") -> None:
        self.store_name = store

    @property
    def store(self) -> StoreClient:
        return StoreClient(self.node.lookup(self.store_name))

    @handler
    @requires("notes:write")
    async def create(self, msg: CreateNote) -> NoteView:
        note_id = f"note-{secrets.token_hex(12)}"
        fields = {"account": msg.account, "title": msg.title, "body": msg.body}
        record = Record(note_id, NOTE.name, {**fields, "created": time.time()})
        await self.store.put(record)
        return _view(record)

    @handler
    @requires("notes:read")
    async def list_notes(self, msg: ListNotes) -> NoteList:
        records = await self.store.find(NOTE.name, account=msg.account)
        views = sorted((_view(r) for r in records), key=lambda v: v.created, reverse=True)
        return NoteList(views)

    @handler
    @requires("notes:read")
    async def get(self, msg: GetNote) -> NoteView:
        return _view(await self._owned(msg.account, msg.note))

    @handler
    @requires("notes:delete")
    async def delete(self, msg: DeleteNote) -> None:
        record = await self._owned(msg.account, msg.note)
        assert record.rev is not None
        await self.store.delete(record.id, record.rev)

    async def _owned(self, account: str, note: str) -> Record:
        """The note ``note`` if it belongs to ``account``; another account's note does not exist."""
        if NOTE_ID.fullmatch(note) is None:
            raise NoteNotFound(f"no note {note!r} in this account")
        try:
            record = await self.store.get(note)
        except NotFound:
            raise NoteNotFound(f"no note {note!r} in this account") from None
        if record.type != NOTE.name or record.fields.get("account") != account:
            raise NoteNotFound(f"no note {note!r} in this account")
        return record


def _view(record: Record) -> NoteView:
    fields = record.fields
    return NoteView(
        id=record.id,
        account=str(fields["account"]),
        title=str(fields["title"]),
        body=str(fields["body"]),
        created=float(fields["created"]),  # type: ignore[arg-type]
    )
