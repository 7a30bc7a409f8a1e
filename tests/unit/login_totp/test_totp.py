"""TOTP verification: the window, replay prevention, and tolerant but strict parsing of codes.

The clock is injected, and pyotp computes the expected codes independently
of the module under test.
"""

from __future__ import annotations

import urllib.parse

import pyotp
import pytest

from enotime.login._totp import Totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_700_000_015.0  # 15 s into a 30 s step
STEP = int(NOW) // 30


def code_at(step: int, secret: str = SECRET, digits: int = 6) -> str:
    return pyotp.TOTP(secret, digits=digits).at(step * 30)


def totp(now: float = NOW, *, digits: int = 6, valid_window: int = 1) -> Totp:
    return Totp(digits=digits, valid_window=valid_window, clock=lambda: now)


def test_the_current_code_is_accepted_and_its_step_returned() -> None:
    assert totp().verify(SECRET, code_at(STEP), last_step=None) == STEP


def test_a_code_from_the_previous_step_is_accepted_within_the_window() -> None:
    assert totp().verify(SECRET, code_at(STEP - 1), last_step=None) == STEP - 1


def test_a_code_from_the_next_step_is_accepted_for_a_clock_running_behind() -> None:
    assert totp().verify(SECRET, code_at(STEP + 1), last_step=None) == STEP + 1


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_a_code_from_outside_the_window_is_refused(offset: int) -> None:
    assert totp().verify(SECRET, code_at(STEP + offset), last_step=None) is None


def test_without_a_window_only_the_current_step_counts() -> None:
    strict = totp(valid_window=0)

    assert strict.verify(SECRET, code_at(STEP), last_step=None) == STEP
    assert strict.verify(SECRET, code_at(STEP - 1), last_step=None) is None


def test_a_wider_window_accepts_more_steps() -> None:
    assert totp(valid_window=2).verify(SECRET, code_at(STEP - 2), last_step=None) == STEP - 2


def test_a_code_is_valid_for_the_whole_of_its_step() -> None:
    start, end = STEP * 30.0, STEP * 30.0 + 29.999
    assert totp(start, valid_window=0).verify(SECRET, code_at(STEP), last_step=None) == STEP
    assert totp(end, valid_window=0).verify(SECRET, code_at(STEP), last_step=None) == STEP


def test_a_code_for_another_secret_is_refused() -> None:
    other = pyotp.random_base32()

    assert totp().verify(SECRET, code_at(STEP, secret=other), last_step=None) is None


def test_a_replayed_code_is_refused() -> None:
    checker = totp()
    step = checker.verify(SECRET, code_at(STEP), last_step=None)

    assert step == STEP
    assert checker.verify(SECRET, code_at(STEP), last_step=step) is None


def test_a_code_from_an_earlier_step_than_the_last_accepted_is_refused() -> None:
    checker = totp()

    assert checker.verify(SECRET, code_at(STEP - 1), last_step=STEP) is None
    assert checker.verify(SECRET, code_at(STEP), last_step=STEP + 1) is None


def test_the_next_step_after_the_last_accepted_one_is_accepted() -> None:
    later = totp(NOW + 30)

    assert later.verify(SECRET, code_at(STEP + 1), last_step=STEP) == STEP + 1


def test_spaces_in_a_code_are_tolerated() -> None:
    code = code_at(STEP)

    assert totp().verify(SECRET, f"{code[:3]} {code[3:]}", last_step=None) == STEP
    assert totp().verify(SECRET, f"  {code}\n", last_step=None) == STEP


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        "abcdef",
        "12345a",
        "123-456",
        "".join(chr(0xFF10 + d) for d in range(1, 7)),  # full-width digits: isdigit() is True
        "٠١٢٣٤٥",  # Arabic-Indic digits
        "1" * 10_000,
        None,
        123456,
        b"123456",
        ["123456"],
    ],
)
def test_malformed_codes_are_refused_without_an_exception(code: object) -> None:
    assert totp().verify(SECRET, code, last_step=None) is None


def test_eight_digit_codes() -> None:
    checker = totp(digits=8)

    assert checker.verify(SECRET, code_at(STEP, digits=8), last_step=None) == STEP
    assert checker.verify(SECRET, code_at(STEP), last_step=None) is None  # 6 digits: wrong length


def test_a_corrupt_secret_is_an_error_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="not valid base32"):
        totp().verify("not base32 !!", "123456", last_step=None)


def test_new_secrets_are_random_base32_with_160_bits() -> None:
    secrets = {Totp().new_secret() for _ in range(20)}

    assert len(secrets) == 20
    for secret in secrets:
        assert len(secret) == 32
        assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_the_provisioning_uri_names_the_issuer_account_and_secret() -> None:
    uri = Totp(issuer="ENoTime Demo").provisioning_uri(SECRET, "alice@example.com")

    parsed = urllib.parse.urlparse(uri)
    query = urllib.parse.parse_qs(parsed.query)
    assert parsed.scheme == "otpauth"
    assert parsed.netloc == "totp"
    assert urllib.parse.unquote(parsed.path) == "/ENoTime Demo:alice@example.com"
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["ENoTime Demo"]
    parsed_back = pyotp.parse_uri(uri)
    assert isinstance(parsed_back, pyotp.TOTP)
    assert parsed_back.at(NOW) == code_at(STEP)


def test_the_provisioning_uri_carries_non_default_settings() -> None:
    uri = Totp(digits=8, interval=60).provisioning_uri(SECRET, "alice@example.com")

    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.digits, parsed.interval) == (8, 60)


@pytest.mark.parametrize(
    "options", [{"digits": 5}, {"digits": 11}, {"interval": 0}, {"valid_window": -1}]
)
def test_bad_settings_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"must|cannot"):
        Totp(**options)  # type: ignore[arg-type]
