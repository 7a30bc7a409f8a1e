"""The store contract: what every store adapter guarantees, SQLite and CouchDB alike.

Each test runs once per adapter (see ``conftest.py``). The CouchDB runs skip
with the reason on a laptop without pouchdb-server and fail in CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from enotime.abc import Store
from enotime.store import (
    Change,
    Conflict,
    Document,
    InvalidDocument,
    InvalidQuery,
    NotFound,
    StoreUnavailable,
)

WAIT = 10.0  # seconds: the bound on every wait for something that must happen


def generation(rev: str) -> int:
    return int(rev.split("-", 1)[0])


async def read_changes(store: Store, since: str | None = None) -> list[Change]:
    return [change async for change in store.changes(since)]


async def list_all(store: Store, doc_type: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await store.list(doc_type, limit=2, cursor=cursor)
        ids += [doc.id for doc in page.documents]
        if page.cursor is None:
            return ids
        cursor = page.cursor


# -- create, read, update, delete -------------------------------------------------------------


async def test_put_creates_a_document_that_get_returns(store: Store) -> None:
    rev = await store.put(Document("ada", "user", {"name": "Ada", "tags": ["x"]}), None)

    assert generation(rev) == 1
    assert await store.get("ada") == Document("ada", "user", {"name": "Ada", "tags": ["x"]}, rev)


async def test_update_with_the_current_revision_replaces_the_body(store: Store) -> None:
    rev1 = await store.put(Document("ada", "user", {"n": 1}), None)

    rev2 = await store.put(Document("ada", "user", {"n": 2}), rev1)

    assert generation(rev2) == 2
    assert await store.get("ada") == Document("ada", "user", {"n": 2}, rev2)


async def test_get_of_an_unknown_id_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get("nobody")


async def test_creating_an_existing_document_is_a_conflict(store: Store) -> None:
    rev = await store.put(Document("ada", "user", {"n": 1}), None)

    with pytest.raises(Conflict):
        await store.put(Document("ada", "user", {"n": 2}), None)

    assert await store.get("ada") == Document("ada", "user", {"n": 1}, rev)


async def test_a_stale_revision_is_a_conflict_and_writes_nothing(store: Store) -> None:
    rev1 = await store.put(Document("ada", "user", {"n": 1}), None)
    rev2 = await store.put(Document("ada", "user", {"n": 2}), rev1)

    with pytest.raises(Conflict):
        await store.put(Document("ada", "user", {"n": 3}), rev1)

    assert await store.get("ada") == Document("ada", "user", {"n": 2}, rev2)


async def test_a_revision_of_a_missing_document_is_a_conflict(store: Store) -> None:
    other = await store.put(Document("bob", "user", {}), None)

    with pytest.raises(Conflict):
        await store.put(Document("ada", "user", {}), other)
    with pytest.raises(NotFound):
        await store.get("ada")


async def test_delete_removes_the_document(store: Store) -> None:
    rev = await store.put(Document("ada", "user", {}), None)

    deleted_rev = await store.delete("ada", rev)

    assert generation(deleted_rev) == 2
    with pytest.raises(NotFound):
        await store.get("ada")
    with pytest.raises(NotFound):
        await store.delete("ada", deleted_rev)


async def test_delete_of_an_unknown_id_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.delete("nobody", "1-00000000000000000000000000000000")


async def test_delete_with_a_stale_revision_is_a_conflict(store: Store) -> None:
    rev1 = await store.put(Document("ada", "user", {"n": 1}), None)
    rev2 = await store.put(Document("ada", "user", {"n": 2}), rev1)

    with pytest.raises(Conflict):
        await store.delete("ada", rev1)

    assert (await store.get("ada")).rev == rev2


async def test_a_deleted_document_can_be_created_again(store: Store) -> None:
    rev = await store.put(Document("ada", "user", {"n": 1}), None)
    deleted_rev = await store.delete("ada", rev)

    with pytest.raises(Conflict):  # the live revision is gone
        await store.put(Document("ada", "user", {"n": 2}), rev)
    again = await store.put(Document("ada", "user", {"n": 2}), None)

    assert generation(again) > generation(deleted_rev)
    assert await store.get("ada") == Document("ada", "user", {"n": 2}, again)


async def test_a_deleted_document_can_be_revived_from_its_tombstone(
    store: Store,
) -> None:
    rev = await store.put(Document("ada", "user", {"n": 1}), None)
    deleted_rev = await store.delete("ada", rev)

    revived = await store.put(Document("ada", "user", {"n": 2}), deleted_rev)

    assert generation(revived) == generation(deleted_rev) + 1
    assert await store.get("ada") == Document("ada", "user", {"n": 2}, revived)


# -- concurrency ------------------------------------------------------------------------------


async def test_concurrent_writers_on_one_revision_get_one_winner(store: Store) -> None:
    base = await store.put(Document("counter", "tally", {"writer": None}), None)

    async def write(writer: int) -> str | Conflict:
        try:
            return await store.put(Document("counter", "tally", {"writer": writer}), base)
        except Conflict as exc:
            return exc

    outcomes = await asyncio.gather(*(write(i) for i in range(20)))

    winners = [(i, rev) for i, rev in enumerate(outcomes) if isinstance(rev, str)]
    assert len(winners) == 1
    assert sum(isinstance(outcome, Conflict) for outcome in outcomes) == 19
    ((winner, rev),) = winners
    assert await store.get("counter") == Document("counter", "tally", {"writer": winner}, rev)


async def test_concurrent_creators_of_one_id_get_one_winner(store: Store) -> None:
    async def create(writer: int) -> str | Conflict:
        try:
            return await store.put(Document("singleton", "lock", {"owner": writer}), None)
        except Conflict as exc:
            return exc

    outcomes = await asyncio.gather(*(create(i) for i in range(20)))

    assert sum(isinstance(outcome, str) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, Conflict) for outcome in outcomes) == 19


# -- find -------------------------------------------------------------------------------------


@pytest.fixture
async def people(store: Store) -> Store:
    await store.declare_index("user", ["email", "status"])
    users: list[tuple[str, dict[str, str | None]]] = [
        ("u3", {"email": "c@example.org", "status": "active"}),
        ("u1", {"email": "a@example.org", "status": "active"}),
        ("u2", {"email": "b@example.org", "status": "banned"}),
        ("u4", {"email": "d@example.org", "status": None}),
        ("u5", {"email": "e@example.org"}),
    ]
    for doc_id, body in users:
        await store.put(Document(doc_id, "user", body), None)
    # Same field values under another type never match.
    await store.put(Document("o1", "order", {"email": "a@example.org", "status": "active"}), None)
    return store


async def ids(docs: Awaitable[list[Document]]) -> list[str]:
    return [doc.id for doc in await docs]


async def test_find_matches_declared_index_fields_in_id_order(people: Store) -> None:
    assert await ids(people.find("user", email="b@example.org")) == ["u2"]
    assert await ids(people.find("user", status="active")) == ["u1", "u3"]
    assert await ids(people.find("user", email="a@example.org", status="active")) == ["u1"]
    assert await ids(people.find("user", email="a@example.org", status="banned")) == []
    assert await ids(people.find("user", status=None)) == ["u4"]  # not u5: it lacks the field
    assert await ids(people.find("user", email="nobody@example.org")) == []


async def test_find_returns_whole_documents(people: Store) -> None:
    (doc,) = await people.find("user", email="b@example.org")

    assert doc == await people.get("u2")


async def test_find_follows_updates_and_deletes(people: Store) -> None:
    u1 = await people.get("u1")
    await people.put(Document("u1", "user", {"email": "a@example.org", "status": "banned"}), u1.rev)
    u3 = await people.get("u3")
    assert u3.rev is not None
    await people.delete("u3", u3.rev)

    assert await ids(people.find("user", status="active")) == []
    assert await ids(people.find("user", status="banned")) == ["u1", "u2"]


async def test_find_on_an_undeclared_field_is_an_invalid_query(people: Store) -> None:
    with pytest.raises(InvalidQuery):
        await people.find("user", name="Ada")
    with pytest.raises(InvalidQuery):
        await people.find("order", email="a@example.org")  # declared for "user" only
    with pytest.raises(InvalidQuery):
        await people.find("user")


async def test_declaring_an_index_covers_documents_already_stored(store: Store) -> None:
    await store.put(Document("t1", "ticket", {"queue": "support"}), None)

    spec = await store.declare_index("ticket", ["queue"])

    assert spec.fields == {"queue"}
    assert await ids(store.find("ticket", queue="support")) == ["t1"]


async def test_an_unindexable_value_in_an_index_field_is_invalid(store: Store) -> None:
    await store.declare_index("user", ["email"])

    with pytest.raises(InvalidDocument):
        await store.put(Document("ada", "user", {"email": {"nested": True}}), None)
    with pytest.raises(InvalidQuery):
        await store.find("user", email=1.5)  # type: ignore[arg-type]

    with pytest.raises(NotFound):
        await store.get("ada")


# -- list -------------------------------------------------------------------------------------


async def test_list_pages_through_a_type_in_id_order(store: Store) -> None:
    for n in (5, 1, 4, 2, 3):
        await store.put(Document(f"item-{n}", "item", {"n": n}), None)
    await store.put(Document("item-0", "other", {}), None)

    first = await store.list("item", limit=2)
    second = await store.list("item", limit=2, cursor=first.cursor)
    last = await store.list("item", limit=2, cursor=second.cursor)

    assert [doc.id for doc in first.documents] == ["item-1", "item-2"]
    assert [doc.id for doc in second.documents] == ["item-3", "item-4"]
    assert [doc.id for doc in last.documents] == ["item-5"]
    assert last.cursor is None
    assert first.documents[0] == await store.get("item-1")


async def test_list_is_stable_while_documents_are_inserted(store: Store) -> None:
    for n in range(0, 20, 2):
        await store.put(Document(f"doc-{n:02}", "page", {}), None)

    seen: list[str] = []
    page = await store.list("page", limit=3)
    while True:
        seen += [doc.id for doc in page.documents]
        # Between pages: one insert behind the cursor, one ahead of it, one elsewhere.
        last = int(page.documents[-1].id.removeprefix("doc-"))
        for doc_id in (f"doc-{last - 1:02}", f"doc-{last + 1:02}x"):
            await store.put(Document(doc_id, "page", {}), None)
        if page.cursor is None:
            break
        page = await store.list("page", limit=3, cursor=page.cursor)

    originals = [f"doc-{n:02}" for n in range(0, 20, 2)]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    assert set(originals) <= set(seen)
    assert not any(doc_id.endswith(("1", "3", "5", "7", "9")) for doc_id in seen)  # behind
    assert {doc_id for doc_id in seen if doc_id.endswith("x")}  # ahead: listed later


async def test_a_cursor_belongs_to_its_type(store: Store) -> None:
    for n in range(3):
        await store.put(Document(f"a{n}", "alpha", {}), None)
    page = await store.list("alpha", limit=1)
    assert page.cursor is not None

    with pytest.raises(InvalidQuery):
        await store.list("beta", cursor=page.cursor)
    with pytest.raises(InvalidQuery):
        await store.list("alpha", cursor="not a cursor")
    with pytest.raises(InvalidQuery):
        await store.list("alpha", limit=0)


async def test_list_of_an_empty_type_is_one_empty_page(store: Store) -> None:
    page = await store.list("nothing")

    assert page.documents == []
    assert page.cursor is None


# -- changes ----------------------------------------------------------------------------------


async def test_changes_report_latest_revisions_and_resume_from_a_token(
    store: Store,
) -> None:
    a = await store.put(Document("a", "note", {}), None)
    b = await store.put(Document("b", "note", {}), None)

    first = await read_changes(store)
    assert [(c.id, c.rev, c.deleted) for c in first] == [("a", a, False), ("b", b, False)]
    token = first[-1].seq

    a2 = await store.put(Document("a", "note", {"v": 2}), a)
    b_gone = await store.delete("b", b)
    c = await store.put(Document("c", "note", {}), None)

    resumed = await read_changes(store, token)
    assert [(ch.id, ch.rev, ch.deleted) for ch in resumed] == [
        ("a", a2, False),
        ("b", b_gone, True),
        ("c", c, False),
    ]
    assert await read_changes(store, resumed[-1].seq) == []
    # A token from the middle resumes right after it.
    assert [ch.id for ch in await read_changes(store, resumed[0].seq)] == ["b", "c"]


async def test_changes_of_an_empty_store_end_at_once(store: Store) -> None:
    assert await read_changes(store) == []


async def test_follow_mode_waits_for_and_yields_a_new_write(store: Store) -> None:
    await store.put(Document("before", "note", {}), None)
    (seen,) = await read_changes(store)
    feed = store.changes(seen.seq, follow=True)
    try:
        next_change = asyncio.ensure_future(anext(feed))
        # Caught up, the feed waits instead of ending.
        done, _ = await asyncio.wait({next_change}, timeout=0.2)
        assert not done

        rev = await store.put(Document("after", "note", {}), None)

        change = await asyncio.wait_for(next_change, WAIT)
        assert (change.id, change.rev, change.deleted) == ("after", rev, False)
    finally:
        await feed.aclose()  # type: ignore[attr-defined]


async def test_follow_mode_ends_when_the_store_closes(store: Store) -> None:
    feed: AsyncIterator[Change] = store.changes(None, follow=True)
    waiting = asyncio.ensure_future(anext(feed))
    done, _ = await asyncio.wait({waiting}, timeout=0.2)
    assert not done

    await store.aclose()

    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, WAIT)


async def test_a_foreign_changes_token_is_an_invalid_query(store: Store) -> None:
    with pytest.raises(InvalidQuery):
        await read_changes(store, "")


# -- bad input --------------------------------------------------------------------------------

BAD_IDS = ["", "_design/x", "_users", "-leading-dash", "a/b", "a b", "ümlaut", "x" * 201, "a\n"]


async def assert_nothing_stored(store: Store) -> None:
    assert await read_changes(store) == []
    assert (await store.list("user")).documents == []


@pytest.mark.parametrize("doc_id", BAD_IDS)
async def test_an_id_outside_the_policy_is_invalid(store: Store, doc_id: str) -> None:
    with pytest.raises(InvalidDocument):
        await store.put(Document(doc_id, "user", {}), None)
    with pytest.raises(InvalidDocument):
        await store.get(doc_id)
    with pytest.raises(InvalidDocument):
        await store.delete(doc_id, "1-00000000000000000000000000000000")
    await assert_nothing_stored(store)


async def test_the_longest_valid_id_is_accepted(store: Store) -> None:
    doc_id = "A1_.:@+=-" + "z" * 191
    rev = await store.put(Document(doc_id, "user", {}), None)

    assert (await store.get(doc_id)).rev == rev


@pytest.mark.parametrize("doc_type", ["", "1user", "user type", "_user", "u" * 65])
async def test_an_invalid_type_name_is_invalid(store: Store, doc_type: str) -> None:
    with pytest.raises(InvalidDocument):
        await store.put(Document("ada", doc_type, {}), None)
    await assert_nothing_stored(store)


@pytest.mark.parametrize(
    "body",
    [
        {"set": {1, 2}},
        {"bytes": b"raw"},
        {"nan": float("nan")},
        {"inf": float("inf")},
        {1: "int key"},
        {"tuple": (1, 2)},
        {"object": object()},
        {"nested": [{"deep": {"x": {3}}}]},
        {"surrogate": "\ud800"},
        ["not", "an", "object"],
    ],
    ids=lambda body: next(iter(body)) if isinstance(body, dict) else "list",
)
async def test_a_body_that_is_not_json_is_invalid(store: Store, body: Any) -> None:
    with pytest.raises(InvalidDocument):
        await store.put(Document("ada", "user", body), None)
    await assert_nothing_stored(store)


async def test_a_body_over_the_size_limit_is_invalid(store: Store) -> None:
    overhead = len('{"blob":""}')
    at_limit = {"blob": "x" * (store.max_body_bytes - overhead)}
    over_limit = {"blob": "x" * (store.max_body_bytes - overhead + 1)}

    with pytest.raises(InvalidDocument):
        await store.put(Document("big", "user", over_limit), None)
    await assert_nothing_stored(store)

    rev = await store.put(Document("big", "user", at_limit), None)
    assert (await store.get("big")).rev == rev


# -- availability -----------------------------------------------------------------------------


async def test_an_unreachable_backend_is_unavailable(
    open_unreachable: Callable[[], Awaitable[Store]],
) -> None:
    with pytest.raises(StoreUnavailable):
        await open_unreachable()


async def test_a_closed_store_is_unavailable(store: Store) -> None:
    rev = await store.put(Document("ada", "user", {}), None)

    await store.aclose()
    await store.aclose()  # idempotent

    with pytest.raises(StoreUnavailable):
        await store.get("ada")
    with pytest.raises(StoreUnavailable):
        await store.put(Document("ada", "user", {"n": 2}), rev)
    with pytest.raises(StoreUnavailable):
        await store.list("user")
