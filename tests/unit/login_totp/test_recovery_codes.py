"""Recovery codes: random, shown once, stored hashed, matched in constant time, easy to type."""

from __future__ import annotations

import re

import pytest

from enotime.login._totp import (
    RECOVERY_ALPHABET,
    hash_recovery_code,
    match_recovery_code,
    new_recovery_codes,
)

SHAPE = re.compile(r"[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}")


def test_ten_distinct_codes_by_default_in_groups_of_four() -> None:
    codes = new_recovery_codes()

    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert SHAPE.fullmatch(code)
        assert set(code.replace("-", "")) <= set(RECOVERY_ALPHABET)


def test_the_alphabet_has_no_look_alikes_and_gives_five_bits_per_character() -> None:
    assert len(RECOVERY_ALPHABET) == 32
    assert not set("ilou") & set(RECOVERY_ALPHABET)


def test_the_count_can_be_chosen_but_not_below_one() -> None:
    assert len(new_recovery_codes(3)) == 3
    with pytest.raises(ValueError, match="at least 1"):
        new_recovery_codes(0)


def test_a_hash_is_a_labelled_sha256_that_does_not_contain_the_code() -> None:
    code = new_recovery_codes(1)[0]

    stored = hash_recovery_code(code)

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", stored)
    assert code.replace("-", "") not in stored


def test_a_code_matches_its_own_hash_among_others() -> None:
    codes = new_recovery_codes()
    hashes = [hash_recovery_code(code) for code in codes]

    assert match_recovery_code(codes[4], hashes) == hashes[4]


def test_a_code_that_was_used_and_removed_no_longer_matches() -> None:
    codes = new_recovery_codes()
    hashes = [hash_recovery_code(code) for code in codes]
    used = match_recovery_code(codes[0], hashes)
    hashes.remove(used)  # type: ignore[arg-type]

    assert match_recovery_code(codes[0], hashes) is None


@pytest.mark.parametrize(
    "typed",
    [
        "7HQ2-MX0C-R4VD",  # upper case
        "7hq2mx0cr4vd",  # without hyphens
        " 7hq2 mx0c r4vd ",  # with spaces
        "7hq2-mxOc-r4vd",  # the letter O for the digit 0
    ],
)
def test_case_spaces_hyphens_and_look_alikes_do_not_matter(typed: str) -> None:
    hashes = [hash_recovery_code("7hq2-mx0c-r4vd")]

    assert match_recovery_code(typed, hashes) == hashes[0]


def test_i_and_l_are_read_as_one() -> None:
    hashes = [hash_recovery_code("1111-2222-3333")]

    assert match_recovery_code("iIlL-2222-3333", hashes) == hashes[0]


def test_a_wrong_code_matches_nothing() -> None:
    hashes = [hash_recovery_code(code) for code in new_recovery_codes()]

    assert match_recovery_code("0000-0000-0000", hashes) is None
    assert match_recovery_code("0000-0000-0000", []) is None


@pytest.mark.parametrize(
    "code",
    ["", "7hq2-mx0c", "7hq2-mx0c-r4vd-0000", "7hq2-mx0c-r4u!", "x" * 10_000, None, 123, b"x"],
)
def test_malformed_input_matches_nothing_without_an_exception(code: object) -> None:
    hashes = [hash_recovery_code("7hq2-mx0c-r4vd")]

    assert match_recovery_code(code, hashes) is None


def test_hashing_something_that_is_not_a_recovery_code_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a recovery code"):
        hash_recovery_code("password123")
