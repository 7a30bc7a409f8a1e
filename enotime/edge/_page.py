"""Pages: a small HTML form on a public POST endpoint's path, for people who follow a mailed link.

A mailed link (verify an address, reset a password) is opened with a GET, by
the person -- and, first, often by the mail provider's link scanner, which
fetches every link to look for malware. A single-use token spent on a GET
would be spent by the scanner. So, as django-allauth does by default
(``ACCOUNT_CONFIRM_EMAIL_ON_GET = False``), the GET only *shows* a page: the
token in a hidden field and a button (plus whatever the person must type, a
new password say). Only the POST the button sends does anything. Scanners
fetch; they do not submit forms.

The page is HTML with no script and nothing loaded from anywhere: one inline
style, allowed by its hash in a strict ``Content-Security-Policy``
(``default-src 'none'``, forms only to this origin, no framing), no caching,
no referrer. The form posts ``application/x-www-form-urlencoded`` to the same
endpoint the JSON API uses, validated by the same input model, calling the
same actor; its answer is an HTML page too, and so are its errors (with their
status) for a client that prefers HTML. Templates are Jinja2's (Quart's own),
autoescaped.

The token is never logged: the front logs paths, never query strings (its
access log's request line is Hypercorn's ``%(r)s``, which has no query).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import jinja2
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, create_model
from quart import Response
from quart.wrappers import Request

__all__ = [
    "FORM_CONTENT_TYPE",
    "Page",
    "PageField",
    "done_page",
    "form_page",
    "problem_page",
    "query_model",
    "wants_html",
]

FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
_HTML: Final = "text/html"

_CSS: Final = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
    "label,input,button{display:block;width:100%;box-sizing:border-box;margin:.4rem 0}"
    "input,button{padding:.5rem;font:inherit}.fine{color:#555;font-size:.9rem}"
)
_CSS_HASH: Final = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
_SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex",
}

_TEMPLATE: Final = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined
).from_string(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}{% if errors %}<ul>
{% for error in errors %}<li>{{ error }}</li>
{% endfor %}</ul>
{% endif %}{% if form %}<form method="post" action="{{ form.action }}">
{% for name, value in form.hidden %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}{% for field in form.fields %}<label for="{{ field.name }}">{{ field.label }}</label>
<input id="{{ field.name }}" name="{{ field.name }}" type="{{ field.type }}" \
autocomplete="{{ field.autocomplete }}" required\
{% if field.minlength %} minlength="{{ field.minlength }}"{% endif %}\
{% if field.maxlength %} maxlength="{{ field.maxlength }}"{% endif %}>
{% endfor %}<button type="submit">{{ form.button }}</button>
</form>
{% endif %}{% if fine %}<p class="fine">{{ fine }}</p>
{% endif %}</main>
</body>
</html>
"""
)


@dataclass(frozen=True, slots=True)
class PageField:
    """A field the person types on a :class:`Page` (the others come from the link).

    Attributes:
        name: The input model's field it fills.
        label: What the person reads above it.
        type: The HTML input type.
        autocomplete: The HTML ``autocomplete`` hint (``new-password`` lets
            password managers offer a strong one).
        minlength: The browser's check before sending (the input model checks again).
        maxlength: The browser's check before sending.
    """

    name: str
    label: str
    type: Literal["text", "email", "password"] = "text"
    autocomplete: str = "off"
    minlength: int | None = None
    maxlength: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """An HTML page served by GET on a public POST endpoint's path, with a form that POSTs.

    For the links a system mails: the GET shows the page and changes nothing
    (mail scanners fetch links); its button sends the form, which the
    endpoint handles like its JSON body. See the module docstring.

    Example:
        >>> Endpoint(
        ...     method="POST", path="/auth/verify-email", target="login",
        ...     message=VerifyEmail, input=TokenIn, output=AcceptedOut, public=True,
        ...     page=Page(title="Confirm your email address", button="Confirm"),
        ... )

    Attributes:
        title: The heading (and title) of the page.
        button: The label of its submit button.
        text: A paragraph under the heading.
        done: The heading of the page answered after the POST succeeded (the
            reply's ``detail``, when it has one, is shown under it).
        from_query: Input fields carried from the link's query string into
            hidden fields (``?token=...``); validated by the input model's
            own rules before the page is shown.
        fields: Input fields the person types.
    """

    title: str
    button: str
    text: str = ""
    done: str = "Done"
    from_query: tuple[str, ...] = ("token",)
    fields: tuple[PageField, ...] = ()

    def check(self, input: type[BaseModel], where: str) -> None:
        """Refuse a page that cannot fill ``input``: a wiring bug, found at declaration.

        Raises:
            ValueError: A name is not a field of ``input``, is given twice, or
                a required field of ``input`` is not on the page.
        """
        names = [*self.from_query, *(field.name for field in self.fields)]
        known = input.model_fields
        if unknown := sorted(set(names) - set(known)):
            raise ValueError(f"{where}: the page names {unknown}, not fields of {input.__name__}")
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: the page names a field twice")
        required = {name for name, info in known.items() if info.is_required()}
        if missing := sorted(required - set(names)):
            raise ValueError(f"{where}: the page does not fill the required fields {missing}")


def query_model(page: Page, input: type[BaseModel]) -> type[BaseModel]:
    """The model of a page's query string: its ``from_query`` fields, as ``input`` declares them.

    Unknown parameters are ignored (mail providers add their own to links).
    """
    fields: dict[str, Any] = {
        name: (input.model_fields[name].annotation, input.model_fields[name])
        for name in page.from_query
    }
    model: type[BaseModel] = create_model(
        f"{input.__name__}PageQuery",
        __config__=ConfigDict(extra="ignore", frozen=True),
        **fields,
    )
    return model


def wants_html(request: Request) -> bool:
    """Whether the client prefers HTML to a problem document (browsers do; ``*/*`` counts)."""
    best = request.accept_mimetypes.best_match(
        [_HTML, "application/problem+json", "application/json"], default=_HTML
    )
    return best == _HTML


def form_page(page: Page, *, action: str, hidden: Mapping[str, str]) -> Response:
    """The page with its form; ``action`` is where it posts (relative to the page's URL)."""
    form = {
        "action": action,
        "hidden": sorted(hidden.items()),
        "fields": page.fields,
        "button": page.button,
    }
    return _render(
        200,
        page.title,
        [page.text] if page.text else [],
        form=form,
        fine="Nothing happens until you press the button.",
    )


def done_page(page: Page, status: int, detail: str | None) -> Response:
    """The page answered after the form's POST succeeded."""
    return _render(status, page.done, [detail] if detail else [])


def problem_page(
    status: int,
    title: str,
    detail: str,
    *,
    request_id: str,
    errors: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem (an error the front answers) as a page, for a person rather than a program."""
    return _render(
        status,
        title,
        [detail],
        errors=errors,
        fine=f"Request id: {request_id}",
        headers=headers,
    )


def _render(
    status: int,
    title: str,
    paragraphs: Sequence[str],
    *,
    form: Mapping[str, Any] | None = None,
    errors: Sequence[str] = (),
    fine: str = "",
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = _TEMPLATE.render(
        title=title,
        paragraphs=paragraphs,
        form=form,
        errors=errors,
        fine=fine,
        css=Markup(_CSS),  # a constant: its hash is in the CSP
    )
    return Response(
        body,
        status=status,
        headers={**(headers or {}), **_SECURITY_HEADERS},
        content_type=f"{_HTML}; charset=utf-8",
    )
