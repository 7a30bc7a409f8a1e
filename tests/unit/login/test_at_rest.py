"""A copy of the database after every flow holds no email, password, secret or token."""

from __future__ import annotations

import asyncio
import base64

import pytest

from enotime.crypto import CryptoClient, Sealed
from enotime.login import (
    ConfirmMfa,
    EnrolMfa,
    Login,
    LoginMfa,
    LoginUnavailable,
    Logout,
    MfaChallenge,
    Refresh,
    Register,
    RequestPasswordReset,
    ResetPassword,
)
from enotime.login._records import DOCUMENT_TYPES

from .conftest import PASSWORD, LoginSystem

EMAIL = "alice.liddell@example.com"
NEW_PASSWORD = "down the rabbit hole again"


async def test_the_raw_store_holds_no_plain_email_password_secret_or_token(
    system: LoginSystem,
) -> None:
    secrets: list[str] = [EMAIL, "alice.liddell", PASSWORD, NEW_PASSWORD]
    await system.register(EMAIL)
    tokens = await system.log_in(EMAIL)
    enrolment = await system.as_user(tokens, EnrolMfa())
    codes = await system.as_user(tokens, ConfirmMfa(system.totp_code(enrolment.secret)))
    system.time.advance(30)
    answer = await system.call(Login(EMAIL, PASSWORD))
    assert isinstance(answer, MfaChallenge)
    session = await system.call(LoginMfa(answer.challenge, system.totp_code(enrolment.secret)))
    renewed = await system.call(Refresh(session.refresh_token or ""))
    await system.call(RequestPasswordReset(EMAIL))
    reset_token = await system.last_token_to(EMAIL, "/reset-password")
    await system.call(ResetPassword(reset_token, NEW_PASSWORD))
    await system.call(Register(EMAIL, PASSWORD))  # a duplicate attempt, mailed to the owner
    system.time.advance(30)
    final = await system.call(Login(EMAIL, NEW_PASSWORD, system.totp_code(enrolment.secret)))
    assert not isinstance(final, MfaChallenge)
    await system.as_user(final, Logout(refresh_token=final.refresh_token))

    secrets += [enrolment.secret, *codes.codes, reset_token, answer.challenge]
    for issued in (tokens, session, renewed, final):
        secrets += [issued.access_token, issued.refresh_token or ""]
        secrets.append((issued.refresh_token or "").split(".")[1])

    raw = await asyncio.to_thread(system.raw_store)
    assert b"login.user" in raw  # the copy is readable: ids and types are there
    for secret in secrets:
        assert secret
        for form in (secret, secret.upper(), base64.b64encode(secret.encode()).decode()):
            assert form.encode() not in raw, f"{secret[:12]}... is in the database"


def test_every_login_document_field_is_private() -> None:
    for doc_type in DOCUMENT_TYPES:
        assert doc_type.public == frozenset(), doc_type.name


async def test_a_sealed_crypto_engine_makes_the_login_answer_unavailable_not_crash(
    system: LoginSystem,
) -> None:
    await system.register(EMAIL)
    await CryptoClient(system.node.lookup("crypto")).seal()
    with pytest.raises(LoginUnavailable) as refused:
        await system.call(Login(EMAIL, PASSWORD))
    assert refused.value.http_status == 503
    assert isinstance(refused.value.__cause__, Sealed)
    assert system.login.is_alive
