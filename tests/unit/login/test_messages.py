"""The login messages: frozen, wire-ready, secrets out of reprs; the HTTP models around them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from enotime import login
from enotime.login._endpoints import LoginIn, LoginOut, MeOut, RegisterIn, TokensOut
from enotime.transport import default_registry

SECRET = "s3cret-value-that-must-not-leak"

MESSAGES: list[Any] = [
    login.Register("a@example.com", SECRET),
    login.VerifyEmail(SECRET),
    login.ResendVerification("a@example.com"),
    login.Login("a@example.com", SECRET, SECRET),
    login.LoginMfa(SECRET, SECRET),
    login.Refresh(SECRET),
    login.RequestPasswordReset("a@example.com"),
    login.ResetPassword(SECRET, SECRET),
    login.Logout(SECRET, everywhere=True),
    login.WhoAmI(),
    login.SwitchAccount("acct-1", SECRET),
    login.EnrolMfa(),
    login.ConfirmMfa(SECRET),
    login.DisableMfa(SECRET, SECRET),
    login.RotateSigningKey(),
    login.Accepted("done"),
    login.Tokens(SECRET, SECRET, 300, "acct-1"),
    login.MfaChallenge(SECRET),
    login.MfaEnrolment(SECRET, SECRET),
    login.RecoveryCodes((SECRET,)),
    login.Me("usr-1", "acct-1", "a@example.com", True, (login.AccountRoles("acct-1", ("owner",)),)),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_each_message_is_frozen_crosses_the_wire_and_hides_its_secrets(message: Any) -> None:
    assert dataclasses.is_dataclass(message)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.email = "x"  # type: ignore[union-attr]
    wire = default_registry.dump(message)
    assert wire["type"].startswith("enotime.login.")
    assert default_registry.load(wire["type"], wire["v"], wire["body"]) == message
    assert SECRET not in repr(message)


def test_the_login_output_model_takes_either_reply() -> None:
    tokens = LoginOut.model_validate(login.Tokens("at", "rt", 300, "acct-1"), from_attributes=True)
    assert (tokens.mfa_required, tokens.access_token, tokens.token_type) == (False, "at", "Bearer")
    challenge = LoginOut.model_validate(login.MfaChallenge("ch"), from_attributes=True)
    assert (challenge.mfa_required, challenge.challenge, challenge.access_token) == (
        True,
        "ch",
        None,
    )
    assert challenge.methods == ["totp", "recovery_code"]


def test_the_output_models_read_the_replies() -> None:
    out = TokensOut.model_validate(login.Tokens("at", None, 300, "acct-1"), from_attributes=True)
    assert out.refresh_token is None
    me = login.Me(
        "usr-1", "acct-1", "a@example.com", False, (login.AccountRoles("acct-1", ("owner",)),)
    )
    assert MeOut.model_validate(me, from_attributes=True).accounts[0].roles == ["owner"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "password": "short"},
        {"email": "a@example.com", "password": "x" * 1025},
        {"email": "nope", "password": "long enough password"},
        {"email": "a@example.com", "password": "long enough password", "admin": True},
    ],
)
def test_registration_input_is_checked_at_the_edge(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RegisterIn.model_validate(body)


def test_passwords_are_taken_as_typed_and_addresses_normalised() -> None:
    login_in = LoginIn.model_validate({"email": "Alice@Example.COM", "password": "  spaced  "})
    assert login_in.password == "  spaced  "
    assert login_in.email == "Alice@example.com"


def test_every_flow_has_a_route_and_only_the_anonymous_ones_are_public() -> None:
    routes = {(e.method, e.path): e for e in login.endpoints()}
    public = {path for (_, path), e in routes.items() if e.public}
    assert public == {
        "/auth/register",
        "/auth/verify-email",
        "/auth/verify-email/resend",
        "/auth/login",
        "/auth/login/mfa",
        "/auth/refresh",
        "/auth/forgot-password",
        "/auth/reset-password",
    }
    assert {path for (_, path), e in routes.items() if not e.public} == {
        "/auth/logout",
        "/auth/me",
        "/auth/switch-account",
        "/auth/mfa/enrol",
        "/auth/mfa/confirm",
        "/auth/mfa/disable",
    }
    assert all(e.rate_limits for e in routes.values() if e.public)
    assert all(e.target == "login" for e in routes.values())
    assert {e.path for e in login.endpoints("/v1/auth/")} == {
        path.replace("/auth", "/v1/auth", 1) for _, path in routes
    }
