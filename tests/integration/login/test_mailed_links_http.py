"""The links in verification and reset mails, opened as a person (and a mail scanner) would.

A GET on a mailed link shows a small HTML page and spends nothing -- a mail
scanner that fetches the link leaves the token usable. The page's button
POSTs the token (form-encoded) to the endpoint the JSON API uses, and the
answer is a page too. All over real HTTP against Hypercorn on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from enotime.login import endpoints
from tests.integration.login.conftest import Http, HttpFactory
from tests.unit.login.conftest import PASSWORD

ALICE = {"email": "alice@example.com", "password": PASSWORD}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
NEW_PASSWORD = "a different and long passphrase"


class Form(HTMLParser):
    """The form of a page: where it posts, its hidden fields, the names of its other inputs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.method = self.action = ""
        self.hidden: dict[str, str] = {}
        self.typed: list[str] = []
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        self.tags.add(tag)
        self.links += [found[name] for name in ("src", "href") if name in found]
        if tag == "form":
            self.method, self.action = found["method"], found["action"]
        elif tag == "input" and found.get("type") == "hidden":
            self.hidden[found["name"]] = found["value"]
        elif tag == "input":
            self.typed.append(found["name"])


async def mailed_link(http: Http, path: str) -> str:
    """The path and query of the newest link to ``path`` mailed to alice, as the front serves it."""
    token = await http.system.last_token_to("alice@example.com", path)
    for mail in reversed(await http.system.mails_to("alice@example.com")):
        for word in mail.text.split():
            if word.endswith(f"{path}?token={token}"):
                link = urlsplit(word)
                return f"{link.path}?{link.query}"
    raise AssertionError(f"no {path} link")


def assert_a_page(response: httpx.Response, status: int) -> Form:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = Form(response.text)
    assert "script" not in page.tags
    assert page.links == []  # nothing loaded from anywhere
    # The one inline style is allowed by its hash (else a browser would ignore it).
    style = response.text.split("<style>")[1].split("</style>")[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp
    return page


async def submit(http: Http, page_url: str, form: Form, **typed: str) -> httpx.Response:
    """Press the page's button: its fields, form-encoded, to its action, as a browser does."""
    assert form.method == "post"
    return await http.client.post(
        urljoin(str(http.client.base_url.join(page_url)), form.action),
        data={**form.hidden, **typed},
        headers=BROWSER,
    )


async def test_opening_a_verification_link_shows_a_page_and_its_button_verifies(
    start_http: HttpFactory, caplog: pytest.LogCaptureFixture
) -> None:
    http = await start_http(edge={"access_log": True})
    await http.system.register("alice@example.com", verify=False)
    url = await mailed_link(http, "/verify-email")
    token = url.split("token=")[1]

    with caplog.at_level(logging.DEBUG):
        scanned = await http.client.get(url)  # a mail scanner fetching the link
        opened = await http.client.get(url, headers=BROWSER)  # then the person
        form = assert_a_page(opened, 200)
        assert_a_page(scanned, 200)
        assert form.hidden == {"token": token}
        assert form.typed == []
        # Opening it twice spent nothing: the address is still unverified.
        assert (await http.post("/auth/login", ALICE)).status_code == 403

        confirmed = await submit(http, url, form)
    assert_a_page(confirmed, 200)
    assert "Email address confirmed" in confirmed.text
    assert "your email address is verified" in confirmed.text
    # The token is never logged by the server side (the client, httpx, logs its URLs).
    served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name == "enotime.edge.access" for r in served)  # the access log is on
    assert not [r.getMessage() for r in served if token in r.getMessage()]
    assert (await http.post("/auth/login", ALICE)).status_code == 200

    again = await submit(http, url, form)  # the link works once
    assert_a_page(again, 400)
    assert "this link or token is invalid or has expired" in again.text
    assert "Request id" in again.text
    as_json = await http.client.post(
        "/auth/verify-email", data=form.hidden, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == 400
    assert as_json.headers["content-type"] == "application/problem+json"


async def test_a_damaged_link_shows_a_400_page_or_problem_and_calls_nobody(http: Http) -> None:
    for damaged in ("/auth/verify-email", "/auth/verify-email?token=not%20a%20token"):
        page = await http.client.get(damaged, headers=BROWSER)
        assert_a_page(page, 400)
        assert "token" in page.text
        problem = await http.client.get(damaged, headers={"Accept": "application/problem+json"})
        assert problem.status_code == 400
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json()["errors"][0]["loc"] == ["query", "token"]


async def test_escaping_holds_for_whatever_the_query_carries(http: Http) -> None:
    answer = await http.client.get(
        "/auth/verify-email", params={"token": "abc", "utm": '"><script>x</script>'}
    )
    assert answer.status_code == 200  # unknown parameters are ignored...
    assert "<script>" not in answer.text  # ... and never written into the page
    assert Form(answer.text).hidden == {"token": "abc"}


async def test_a_reset_link_shows_a_password_form_and_a_weak_password_keeps_the_link(
    http: Http,
) -> None:
    system = http.system
    await system.register("alice@example.com")
    assert (await http.post("/auth/forgot-password", {"email": "alice@example.com"})).is_success
    url = await mailed_link(http, "/reset-password")

    form = assert_a_page(await http.client.get(url, headers=BROWSER), 200)
    assert form.typed == ["new_password"]
    assert set(form.hidden) == {"token"}

    weak = await submit(http, url, form, new_password="short")
    assert_a_page(weak, 400)
    assert "new_password: String should have at least 12 characters" in weak.text
    assert system.hasher.hashes == 1  # refused before the login actor: only the sign-up hashed

    changed = await submit(http, url, form, new_password=NEW_PASSWORD)
    assert_a_page(changed, 200)
    assert "Password changed" in changed.text
    new = await http.post("/auth/login", {"email": "alice@example.com", "password": NEW_PASSWORD})
    assert new.status_code == 200, new.text
    assert (await submit(http, url, form, new_password=NEW_PASSWORD)).status_code == 400


async def test_the_pages_are_in_the_openapi_document_as_html(http: Http) -> None:
    paths = (await http.client.get("/openapi.json")).json()["paths"]
    page = paths["/auth/verify-email"]["get"]
    assert "text/html" in page["responses"]["200"]["content"]
    assert [p["name"] for p in page["parameters"]] == ["token"]
    form = paths["/auth/reset-password"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(form)


async def test_without_pages_a_get_is_405_and_the_json_api_stays(start_http: HttpFactory) -> None:
    without = await start_http(routes=endpoints(pages=False))
    assert (await without.client.get("/auth/verify-email?token=abc")).status_code == 405
    paths = (await without.client.get("/openapi.json")).json()["paths"]
    assert set(paths["/auth/verify-email"]) == {"post"}
