"""Drive the sandbox's sign-in pages over plain HTTP, as a browser without JavaScript would."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


class Forms(HTMLParser):
    """Collects each <form>'s action and its named inputs (hidden ones with their values)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attributes.get("action") or "", "fields": {}})
        elif (
            tag == "input"
            and self.forms
            and attributes.get("name")
            and attributes.get("type") in ("hidden", None, "text", "email")
        ):
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value") or ""


def forms_of(html: str) -> list[dict]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def submit(session: requests.Session, page: requests.Response, **fields) -> requests.Response:
    [form] = [f for f in forms_of(page.text) if "step" in f["fields"] or "code" in f["fields"]][:1]
    return session.post(
        urljoin(page.url, form["action"]),
        data={**form["fields"], **fields},
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=10,
    )


def sign_in_through_authorize(
    auth_uri: str, username: str, password: str, *, session: requests.Session | None = None
) -> requests.Response:
    """Open the authorize URL, sign in, accept consent if asked; return the final response."""
    session = session or requests.Session()
    page = session.get(auth_uri, allow_redirects=False, timeout=10)
    if page.status_code == 200 and 'name="password"' in page.text:
        page = submit(session, page, username=username, password=password)
    if page.status_code == 200 and 'value="consent"' in page.text:
        page = submit(session, page, decision="accept")
    return page
