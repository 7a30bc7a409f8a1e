"""The revocation list: single tokens, whole subjects, pruning, and sharing snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from enotime.auth import RevocationList
from tests.unit._wall_clock import START, WallClock


def token(jti: str = "j1", sub: str = "u1", iat: float = START) -> dict[str, Any]:
    return {"jti": jti, "sub": sub, "iat": iat}


def test_a_revoked_jti_is_revoked_and_others_are_not(revocations: RevocationList) -> None:
    revocations.revoke("j1", START + 300)
    assert revocations.is_revoked(token("j1"))
    assert not revocations.is_revoked(token("j2"))


def test_a_revoked_subject_covers_the_tokens_issued_strictly_before(
    revocations: RevocationList,
) -> None:
    revocations.revoke_subject("u1", issued_before=START + 10)
    assert revocations.is_revoked(token(iat=START + 9.999))
    assert not revocations.is_revoked(token(iat=START + 10))  # issued with the revocation
    assert not revocations.is_revoked(token(iat=START + 11))
    assert not revocations.is_revoked(token(sub="u2", iat=START))


def test_a_later_subject_revocation_wins_over_an_earlier_one(revocations: RevocationList) -> None:
    revocations.revoke_subject("u1", issued_before=START + 20)
    revocations.revoke_subject("u1", issued_before=START + 10)
    assert revocations.is_revoked(token(iat=START + 15))


def test_a_jti_is_forgotten_once_its_token_cannot_verify_any_more(wall: WallClock) -> None:
    revocations = RevocationList(clock=wall, skew=60.0)
    revocations.revoke("j1", START + 300)
    wall.advance(300 + 59)
    assert revocations.is_revoked(token("j1"))
    wall.advance(2)
    revocations.prune()
    assert len(revocations) == 0


def test_a_subject_is_forgotten_after_its_retention(wall: WallClock) -> None:
    revocations = RevocationList(clock=wall, subject_retention=3600.0)
    revocations.revoke_subject("u1", issued_before=START)
    wall.advance(3599)
    assert revocations.snapshot()["subjects"] == {"u1": START}
    wall.advance(2)
    assert revocations.snapshot() == {"tokens": {}, "subjects": {}}


def test_a_snapshot_survives_json_and_merges_into_another_list(
    revocations: RevocationList, wall: WallClock
) -> None:
    revocations.revoke("j1", START + 300)
    revocations.revoke_subject("u1", issued_before=START + 5)
    front = RevocationList(clock=wall)
    front.revoke("j0", START + 100)

    front.merge(json.loads(json.dumps(revocations.snapshot())))

    assert front.is_revoked(token("j0", sub="x"))
    assert front.is_revoked(token("j1", sub="x"))
    assert front.is_revoked(token("j9", sub="u1", iat=START))
    assert front.snapshot() == {
        "tokens": {"j0": START + 100, "j1": START + 300},
        "subjects": {"u1": START + 5},
    }


def test_merging_keeps_the_later_times(revocations: RevocationList, wall: WallClock) -> None:
    revocations.revoke_subject("u1", issued_before=START + 50)
    revocations.merge({"subjects": {"u1": START + 10}, "tokens": {}})
    assert revocations.snapshot()["subjects"] == {"u1": START + 50}


@pytest.mark.parametrize(
    "snapshot",
    [
        [],
        {"tokens": []},
        {"tokens": {"j": "later"}},
        {"tokens": {"": START}},
        {"subjects": {"u": float("nan")}},
        {"subjects": {"u": True}},
    ],
)
def test_a_malformed_snapshot_is_refused_whole(revocations: RevocationList, snapshot: Any) -> None:
    revocations.revoke("j1", START + 300)
    before = revocations.snapshot()
    with pytest.raises(ValueError, match="snapshot"):
        revocations.merge(snapshot)
    assert revocations.snapshot() == before


def test_revoking_needs_an_id_and_a_finite_time(revocations: RevocationList) -> None:
    with pytest.raises(ValueError, match="jti"):
        revocations.revoke("", START)
    with pytest.raises(ValueError, match="finite"):
        revocations.revoke_subject("u", float("inf"))


def test_claims_without_a_usable_iat_count_as_revoked_for_a_revoked_subject(
    revocations: RevocationList,
) -> None:
    revocations.revoke_subject("u1", issued_before=START)
    assert revocations.is_revoked({"jti": "j", "sub": "u1"})
