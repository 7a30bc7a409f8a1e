"""Request ids: accepted when well-formed, generated otherwise."""

from __future__ import annotations

import re

import pytest

from enotime.edge._request_id import request_id_from


@pytest.mark.parametrize("header", ["abcdefgh", "trace:2024-01-01.x_y", "A" * 128])
def test_a_well_formed_id_is_kept(header: str) -> None:
    assert request_id_from(header) == header


@pytest.mark.parametrize(
    "header", [None, "", "short", "A" * 129, "has space", "new\nline", 'quo"te-123', "ümlaut-1234"]
)
def test_anything_else_gets_a_fresh_random_id(header: str | None) -> None:
    generated = request_id_from(header)

    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert generated != request_id_from(header)
