"""The reference system end to end: ``supervisors.demo:system`` over real HTTP and real SMTP.

The whole tree the README runs -- crypto, store, mailer, login, accounts,
notes and the front -- in one node, with its mailer pointed at an aiosmtpd
server on loopback: every mail a user would get arrives over SMTP, and the
tests act on the links in them as a user would.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from enotime import Node
from enotime.edge import Where
from enotime.mail import SmtpMailer
from supervisors.demo import system
from tests.integration.mail.conftest import (
    HOST,
    LoopbackController,
    Received,
    Recorder,
    smtp_server,
)

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")


@dataclass
class Demo:
    """The running system, an HTTP client on its front, and the mail it sent."""

    node: Node
    http: httpx.AsyncClient
    mail: Recorder
    data: Path

    unread: list[Received] = field(default_factory=list)

    async def mail_to(self, address: str, subject: str) -> str:
        """The body of the first unread mail to ``address`` whose subject contains ``subject``."""

        def wanted(mail: Received) -> bool:
            return mail.rcpt_tos == [address] and subject in str(mail.message["Subject"])

        found = next((mail for mail in self.unread if wanted(mail)), None)
        while found is None:
            received = await self.mail.next(timeout=10)
            if wanted(received):
                found = received
            else:
                self.unread.append(received)
        if found in self.unread:
            self.unread.remove(found)
        body = found.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    async def link_token(self, address: str, subject: str) -> str:
        match = TOKEN.search(await self.mail_to(address, subject))
        assert match is not None
        return match.group(1)

    async def post(self, path: str, json: Any = None, token: str | None = None) -> httpx.Response:
        return await self.http.post(path, json=json, headers=_bearer(token))

    async def get(self, path: str, token: str) -> httpx.Response:
        return await self.http.get(path, headers=_bearer(token))

    async def delete(self, path: str, token: str) -> httpx.Response:
        return await self.http.delete(path, headers=_bearer(token))

    async def sign_up(self, email: str) -> dict[str, Any]:
        """Register, follow the verification link, log in: the token response."""
        registered = await self.post("/auth/register", {"email": email, "password": PASSWORD})
        assert registered.status_code == 202, registered.text
        token = await self.link_token(email, "Confirm your email")
        verified = await self.post("/auth/verify-email", {"token": token})
        assert verified.status_code == 200, verified.text
        return await self.log_in(email)

    async def log_in(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        answer = await self.post("/auth/login", {"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
async def recorder() -> Recorder:
    import asyncio

    return Recorder(asyncio.get_running_loop())


@pytest.fixture
def smtp(recorder: Recorder) -> Iterator[LoopbackController]:
    with smtp_server(recorder) as controller:
        yield controller


@pytest.fixture
async def demo(tmp_path: Path, smtp: LoopbackController, recorder: Recorder) -> AsyncIterator[Demo]:
    mailer = SmtpMailer(HOST, smtp.port, "noreply@example.com")
    async with Node("demo", shutdown_timeout=5.0) as node:
        await node.start(system(port=0, mailer=mailer, data=tmp_path))
        address = await node.lookup("front").call(Where())
        async with httpx.AsyncClient(base_url=address.url, timeout=10) as http:
            yield Demo(node, http, recorder, tmp_path)


async def test_the_readme_session_register_verify_log_in_write_a_note_and_get_a_403(
    demo: Demo,
) -> None:
    tokens = await demo.sign_up("ada@example.com")
    access, account = tokens["access_token"], tokens["account"]
    assert "logged in with password" in await demo.mail_to("ada@example.com", "New login")

    me = await demo.get("/auth/me", access)
    assert me.json()["email"] == "ada@example.com"
    assert me.json()["accounts"] == [{"account": account, "roles": ["owner"]}]

    created = await demo.post(
        f"/accounts/{account}/notes", {"title": "first", "body": "hi"}, access
    )
    assert created.status_code == 201, created.text
    listed = await demo.get(f"/accounts/{account}/notes", access)
    assert [n["title"] for n in listed.json()["notes"]] == ["first"]

    elsewhere = await demo.get("/accounts/acct-not-mine/notes", access)
    assert elsewhere.status_code == 403
    assert elsewhere.headers["content-type"] == "application/problem+json"
    assert elsewhere.json()["detail"] == "the access token is not valid for this account"

    anonymous = await demo.http.get(f"/accounts/{account}/notes")
    assert anonymous.status_code == 401


async def test_a_member_may_write_notes_but_only_owners_and_admins_may_delete_them(
    demo: Demo,
) -> None:
    owner = await demo.sign_up("owner@example.com")
    account = owner["account"]
    note = await demo.post(f"/accounts/{account}/notes", {"title": "plan"}, owner["access_token"])
    note_id = note.json()["id"]

    invited = await demo.post(
        f"/accounts/{account}/invitations",
        {"email": "member@example.com", "role": "member"},
        owner["access_token"],
    )
    assert invited.status_code == 201, invited.text
    member = await demo.sign_up("member@example.com")
    invitation = await demo.link_token("member@example.com", "invited")
    accepted = await demo.post(
        "/accounts/invitations/accept", {"token": invitation}, member["access_token"]
    )
    assert accepted.status_code == 200, accepted.text
    assert (
        await demo.post(
            "/accounts/invitations/accept", {"token": invitation}, member["access_token"]
        )
    ).status_code == 400  # an invitation works once

    # The member's own token is for their personal account; switching gives one for this one.
    mine = await demo.get(f"/accounts/{account}/notes", member["access_token"])
    assert mine.status_code == 403
    switched = await demo.post(
        "/auth/switch-account",
        {"account": account, "refresh_token": member["refresh_token"]},
        member["access_token"],
    )
    assert switched.status_code == 200, switched.text
    as_member = switched.json()["access_token"]

    assert (await demo.get(f"/accounts/{account}/notes", as_member)).status_code == 200
    written = await demo.post(f"/accounts/{account}/notes", {"title": "mine"}, as_member)
    assert written.status_code == 201
    refused = await demo.delete(f"/accounts/{account}/notes/{note_id}", as_member)
    assert refused.status_code == 403
    assert "notes:delete" in refused.json()["detail"]
    not_an_admin = await demo.post(
        f"/accounts/{account}/invitations",
        {"email": "third@example.com", "role": "member"},
        as_member,
    )
    assert not_an_admin.status_code == 403

    deleted = await demo.delete(f"/accounts/{account}/notes/{note_id}", owner["access_token"])
    assert deleted.status_code == 204


async def test_mfa_enrolment_then_login_with_a_code_refuses_replays_and_spent_recovery_codes(
    demo: Demo,
) -> None:
    tokens = await demo.sign_up("mfa@example.com")
    enrolment = (await demo.post("/auth/mfa/enrol", token=tokens["access_token"])).json()
    totp = pyotp.TOTP(enrolment["secret"])
    confirm_code = totp.now()
    confirmed = await demo.post("/auth/mfa/confirm", {"code": confirm_code}, tokens["access_token"])
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["codes"]

    async def challenge() -> str:
        answer = await demo.post("/auth/login", {"email": "mfa@example.com", "password": PASSWORD})
        assert answer.json()["mfa_required"] is True
        assert answer.json()["access_token"] is None
        return str(answer.json()["challenge"])

    replayed = await demo.post(
        "/auth/login/mfa", {"challenge": await challenge(), "code": confirm_code}
    )
    assert replayed.status_code == 401  # the confirming code's time step is spent

    next_step = totp.at(time.time() + totp.interval)  # within the verifier's window
    passed = await demo.post("/auth/login/mfa", {"challenge": await challenge(), "code": next_step})
    assert passed.status_code == 200, passed.text

    first = await demo.post(
        "/auth/login/mfa", {"challenge": await challenge(), "code": recovery[0]}
    )
    assert first.status_code == 200
    again = await demo.post(
        "/auth/login/mfa", {"challenge": await challenge(), "code": recovery[0]}
    )
    assert again.status_code == 401


async def test_a_password_reset_by_mail_works_once_and_ends_every_session(demo: Demo) -> None:
    tokens = await demo.sign_up("reset@example.com")
    asked = await demo.post("/auth/forgot-password", {"email": "reset@example.com"})
    assert asked.status_code == 202
    unknown = await demo.post("/auth/forgot-password", {"email": "nobody@example.com"})
    assert (unknown.status_code, unknown.json()) == (asked.status_code, asked.json())

    token = await demo.link_token("reset@example.com", "Reset your password")
    new_password = "a different and long passphrase"
    reset = await demo.post("/auth/reset-password", {"token": token, "new_password": new_password})
    assert reset.status_code == 200, reset.text
    reused = await demo.post("/auth/reset-password", {"token": token, "new_password": PASSWORD})
    assert reused.status_code == 400

    old_access = await demo.get("/auth/me", tokens["access_token"])
    assert old_access.status_code == 401
    assert old_access.json()["token_problem"] == "revoked"
    old_refresh = await demo.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert old_refresh.status_code == 401
    old_password = await demo.post(
        "/auth/login", {"email": "reset@example.com", "password": PASSWORD}
    )
    assert old_password.status_code == 401
    assert (await demo.log_in("reset@example.com", new_password))["access_token"]


async def test_after_a_full_session_the_database_holds_no_plain_email_password_or_note(
    demo: Demo,
) -> None:
    tokens = await demo.sign_up("private.person@example.com")
    secret_body = "the combination is 31-7-42"
    await demo.post(
        f"/accounts/{tokens['account']}/notes",
        {"title": "safe", "body": secret_body},
        tokens["access_token"],
    )
    await demo.post(
        "/auth/logout", {"refresh_token": tokens["refresh_token"]}, tokens["access_token"]
    )

    raw = b"".join(p.read_bytes() for p in demo.data.glob("store.sqlite3*"))
    assert raw, "the database files exist"
    for plain in ("private.person@example.com", "private.person", PASSWORD, secret_body):
        assert plain.encode() not in raw, plain
    assert tokens["refresh_token"].encode() not in raw
