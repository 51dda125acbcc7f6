"""Hostile mail in a real browser: nothing in it runs or loads until the person asks for
remote images, and then only the images load."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import wait_for
from tests.restore import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class Listener:
    """A local HTTP server standing in for an attacker's: it records every request."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(PNG_1X1)

            do_POST = do_GET

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def hostile_html(url: str) -> str:
    return f"""
<html><head>
<style>body {{ background: url({url}/style-tag.png) }} @import url({url}/import.css);</style>
<link rel="stylesheet" href="{url}/link.css">
<meta http-equiv="refresh" content="0;url={url}/refresh">
<script>window.top.document.title = "pwned"; fetch("{url}/script");</script>
</head><body>
<p>Hello from a hostile sender</p>
<img src="x" onerror="fetch('{url}/onerror'); window.top.document.title='pwned'">
<div style="background-image: url({url}/inline-style.png)">styled</div>
<img src="{url}/remote.png" alt="remote picture">
<img src="cid:logo@example" alt="inline logo" id="inline">
<a href="javascript:fetch('{url}/javascript-link')">click me</a>
<iframe src="{url}/iframe"></iframe>
<object data="{url}/object"></object>
<form action="{url}/form" method="post"><input name="q"><button>Send</button></form>
<svg><image href="{url}/svg-image.png"></image></svg>
<video poster="{url}/poster.png"></video>
<body onload="fetch('{url}/onload')">
</body></html>"""


def test_hostile_mail_does_not_run_or_load_until_remote_images_are_asked_for(page_as, listener):
    alice = f.user("alice")
    box = f.mailbox(alice, messages=0)
    item = f.message(
        box["object"],
        box["inbox"],
        "Totally harmless",
        html=hostile_html(listener.url),
        inline_images=[("logo@example", "image/png", PNG_1X1)],
    )
    page = page_as(alice)
    page.goto(f"/backups/items/{item.pk}/")
    body = page.frame_locator('[data-testid="mail-body"]')
    body.get_by_text("Hello from a hostile sender").wait_for()
    page.wait_for_timeout(1000)  # time for anything that would run or load
    assert listener.paths == []
    assert page.title() == "Totally harmless · Lifeboat"
    # The inline image came from the message itself, as a data: URL.
    assert body.locator("img[alt='inline logo']").evaluate("img => img.naturalWidth") == 1

    page.get_by_test_id("show-remote-images").click()
    body = page.frame_locator('[data-testid="mail-body"]')
    body.get_by_text("Hello from a hostile sender").wait_for()
    wait_for(lambda: "/remote.png" in listener.paths, message="the remote image never loaded")
    page.wait_for_timeout(500)
    # Only the image the person asked for; nothing that is code or style.
    assert set(listener.paths) == {"/remote.png"}
    assert page.title() == "Totally harmless · Lifeboat"
