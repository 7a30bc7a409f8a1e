"""Shamir shares of the 256-bit master key (pycryptodome underneath, two 16-byte halves)."""

from __future__ import annotations

import itertools
import os

import pytest

from enotime.crypto import InvalidShare
from enotime.crypto._shamir import combine_secret, decode_share, encode_share, split_secret


def test_every_threshold_subset_rebuilds_the_whole_32_byte_secret() -> None:
    secret = os.urandom(32)
    points = split_secret(secret, shares=5, threshold=3)
    assert [index for index, _ in points] == [1, 2, 3, 4, 5]
    for subset in itertools.combinations(points, 3):
        assert combine_secret(list(subset)) == secret


def test_fewer_than_threshold_points_do_not_rebuild_the_secret() -> None:
    secret = os.urandom(32)
    points = split_secret(secret, shares=5, threshold=3)
    assert combine_secret(points[:2]) != secret


def test_both_halves_are_shared_with_independent_polynomials() -> None:
    # Equal halves must not give equal share halves, or a share would leak their equality.
    half = os.urandom(16)
    points = split_secret(half + half, shares=3, threshold=2)
    assert any(value[:16] != value[16:] for _, value in points)


def test_share_string_round_trips() -> None:
    value = os.urandom(32)
    text = encode_share("0123456789abcdef", 2, value)
    share = decode_share(text, keyring_id="0123456789abcdef", shares=3)
    assert (share.index, share.value) == (2, value)
    assert value.hex() not in repr(share)


@pytest.mark.parametrize(
    ("keyring_id", "shares", "match"),
    [("fedcba9876543210", 3, "belongs to keyring"), ("0123456789abcdef", 1, "never issued")],
)
def test_share_for_another_keyring_or_index_is_refused(
    keyring_id: str, shares: int, match: str
) -> None:
    text = encode_share("0123456789abcdef", 2, os.urandom(32))
    with pytest.raises(InvalidShare, match=match):
        decode_share(text, keyring_id=keyring_id, shares=shares)
