"""The checks every store adapter shares: id policy, JSON bodies, cursors, exports."""

from __future__ import annotations

import pytest

import enotime.store
from enotime.errors import EnotimeError
from enotime.store import InvalidDocument, InvalidQuery, StoreError
from enotime.store._port import (
    IndexSpec,
    check_id,
    check_query,
    decode_cursor,
    encode_body,
    encode_cursor,
)


def test_every_public_name_is_exported_once() -> None:
    names = enotime.store.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(enotime.store, name) is not None


def test_store_errors_are_enotime_errors() -> None:
    assert issubclass(StoreError, EnotimeError)
    for name in ("NotFound", "Conflict", "InvalidDocument", "InvalidQuery", "StoreUnavailable"):
        assert issubclass(getattr(enotime.store, name), StoreError)


@pytest.mark.parametrize("doc_id", ["a", "0", "user:42", "a@b.c", "01HF-X_y.z+=", "x" * 200])
def test_ids_inside_the_policy_pass(doc_id: str) -> None:
    assert check_id(doc_id) == doc_id


@pytest.mark.parametrize("doc_id", ["", "_x", ".x", "a/b", "a?b", "x" * 201, 42, None])
def test_ids_outside_the_policy_are_invalid_documents(doc_id: object) -> None:
    with pytest.raises(InvalidDocument):
        check_id(doc_id)


def test_a_body_is_measured_as_compact_utf8_json() -> None:
    body = {"k": "é"}  # {"k":"é"} is 10 bytes: é takes two
    assert encode_body(body, 10) == '{"k":"é"}'
    with pytest.raises(InvalidDocument, match="over the limit of 9"):
        encode_body(body, 9)


def test_a_non_json_value_is_named_by_its_path() -> None:
    with pytest.raises(InvalidDocument, match=r"body\['a'\]\[1\] is a set"):
        encode_body({"a": [1, {2}]}, 1000)


def test_a_cursor_round_trips_for_its_type_only() -> None:
    cursor = encode_cursor("user", "u-17")

    assert decode_cursor("user", cursor) == "u-17"
    with pytest.raises(InvalidQuery):
        decode_cursor("order", cursor)


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", encode_cursor("user", "x")[:-3]])
def test_a_malformed_cursor_is_an_invalid_query(cursor: str) -> None:
    with pytest.raises(InvalidQuery):
        decode_cursor("user", cursor)


def test_find_arguments_are_checked_against_the_declaration() -> None:
    spec = IndexSpec("user", frozenset({"email", "active"}))

    assert check_query(spec, {"email": "a", "active": True}) == {"email": "a", "active": True}
    with pytest.raises(InvalidQuery, match="not a declared index field"):
        check_query(spec, {"name": "Ada"})
    with pytest.raises(InvalidQuery):
        check_query(spec, {"email": ["a"]})
    with pytest.raises(InvalidQuery):
        check_query(spec, {})
