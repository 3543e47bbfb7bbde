"""The virtual authenticator (tests/e2e/virtual_authenticator.py) behind real WebAuthn calls.

A tiny page of our own (tests/e2e/webauthn_probe/, served here under a strict CSP, its script
a separate file) creates a discoverable passkey and signs in with it, user verification
required, through ``navigator.credentials``: what a passkey journey on the site relies on. Also
the two facts that decide how such a journey is set up: on ``http://127.0.0.1`` the browser
refuses the ceremony, and the site started with ``host_name="localhost"`` is served, and names
itself, at ``http://localhost:<port>``.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import Browsing
from tests.e2e.virtual_authenticator import virtual_authenticator
from tests.support.servers import LOOPBACK, Process

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).parent / "webauthn_probe"
PROBE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'"


class ProbeHandler(SimpleHTTPRequestHandler):
    """The probe's two files, under a CSP that lets no inline script run; no request log."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", PROBE_CSP)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        """Quiet: the test reports what matters."""


@pytest.fixture(scope="module")
def probe_port() -> Iterator[int]:
    """The probe page on 127.0.0.1, a port of its own; reached as http://localhost:<port>."""
    server = ThreadingHTTPServer((LOOPBACK, 0), functools.partial(ProbeHandler, directory=str(PROBE)))
    thread = threading.Thread(target=server.serve_forever, name="webauthn-probe", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def probe_web(browser: Browser, host_name: str, port: int) -> Browsing:
    return Browsing(browser, f"http://{host_name}:{port}")


def ceremony(page: Page, button: str) -> dict:
    """Click a ceremony's button and return what the page reports: its status and data."""
    page.get_by_role("button", name=button).click()
    result = page.get_by_role("status")
    expect(result).not_to_have_attribute("data-status", "pending")
    return {"status": result.get_attribute("data-status"), **json.loads(result.inner_text())}


def standard_b64_to_url(value: str) -> str:
    """DevTools reports ids in standard base64; the page in base64url without padding."""
    return base64.urlsafe_b64encode(base64.b64decode(value)).rstrip(b"=").decode()


def test_a_discoverable_passkey_is_created_and_used_with_user_verification(browser: Browser, probe_port: int):
    web = probe_web(browser, "localhost", probe_port)
    try:
        page = web.goto(web.new_page(), "/")
        with virtual_authenticator(page) as authenticator:
            assert authenticator.authenticator_id
            assert authenticator.credentials() == []

            created = ceremony(page, "Create a passkey")
            assert created["status"] == "ok", created
            assert created["userVerified"] is True
            [stored] = authenticator.credentials()
            assert stored["isResidentCredential"] is True
            assert stored["rpId"] == "localhost"
            assert standard_b64_to_url(stored["credentialId"]) == created["id"]
            assert standard_b64_to_url(stored["userHandle"]) == created["userId"]
            count_after_create = stored["signCount"]

            signed_in = ceremony(page, "Sign in with a passkey")
            assert signed_in["status"] == "ok", signed_in
            assert signed_in["id"] == created["id"]
            assert signed_in["userHandle"] == created["userId"]  # discoverable: no allowCredentials sent
            assert signed_in["userVerified"] is True
            [stored] = authenticator.credentials()
            assert stored["signCount"] > count_after_create
            assert signed_in["signCount"] == stored["signCount"]

            authenticator.set_user_verified(False)
            refused = ceremony(page, "Sign in with a passkey")
            assert (refused["status"], refused.get("name")) == ("error", "NotAllowedError"), refused
            assert authenticator.credentials()[0]["signCount"] == stored["signCount"]

            authenticator.remove()
            assert authenticator.is_removed
        web.verify()
    finally:
        web.close()


def test_on_an_ip_address_the_browser_refuses_to_create_a_passkey(browser: Browser, probe_port: int):
    web = probe_web(browser, LOOPBACK, probe_port)
    try:
        page = web.goto(web.new_page(), "/")
        with virtual_authenticator(page) as authenticator:
            refused = ceremony(page, "Create a passkey")
            assert (refused["status"], refused.get("name")) == ("error", "SecurityError"), refused
            assert authenticator.credentials() == []
        web.verify()
    finally:
        web.close()


def test_the_site_started_for_localhost_is_served_and_names_itself_there(localhost_web: Browsing,
                                                                         localhost_site: Process):
    assert localhost_site.origin.startswith("http://localhost:")
    page = localhost_web.goto(localhost_web.new_page(), "/accounts/login/")
    assert page.evaluate("window.isSecureContext && typeof PublicKeyCredential === 'function'")
    discovery = page.request.get("/o/.well-known/openid-configuration")
    assert discovery.status == 200
    assert discovery.json()["issuer"] == localhost_site.origin + "/o"
