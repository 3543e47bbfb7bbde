"""examples/demo_client.py's callback, run against the live provider: code meant to be copied
checks ``state`` and ``iss`` (RFC 9207) before it redeems a code.

The browser journey through the example app is in tests/e2e/test_oauth.py; here the app
runs in process, on a free loopback port, so the callback can be fed altered responses.
"""

from __future__ import annotations

import importlib.util
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from tests.factories import customer
from tests.support.oauth import Browser, live, location, query

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo_client.py"


def load_example():
    spec = importlib.util.spec_from_file_location("demo_client_under_test", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo_app(provider, public_client, monkeypatch):
    """The example app on a free port, using the live provider and ``public_client``; its origin."""
    module = load_example()
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.Handler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(module, "ISSUER", provider.issuer)
    monkeypatch.setattr(module, "API_ORIGIN", provider.base_url)
    monkeypatch.setattr(module, "CLIENT_ID", public_client.client_id)
    monkeypatch.setattr(module, "REDIRECT_URI", f"{origin}/callback")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield origin
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def authorization_response(provider, demo_app) -> tuple[requests.Session, dict]:
    """Start at the app, sign in and approve at the provider; return the app's cookies and the response."""
    app = requests.Session()
    start = app.get(f"{demo_app}/login", allow_redirects=False, timeout=30)
    assert start.status_code == 302
    browser = Browser(provider.base_url)
    browser.login(customer())
    page = browser.get(location(start))
    response = browser.consent(page)  # another port than the registered one: always asked
    assert location(response).startswith(f"{demo_app}/callback?"), location(response)
    return app, query(location(response))


def callback(app: requests.Session, demo_app: str, params: dict) -> requests.Response:
    return app.get(f"{demo_app}/callback?{urlencode(params)}", allow_redirects=False, timeout=30)


@live
def test_the_example_refuses_a_response_without_iss_or_with_another_and_accepts_the_right_one(provider, demo_app):
    app, params = authorization_response(provider, demo_app)
    assert params["iss"] == provider.issuer and params["code"]

    missing = callback(app, demo_app, {k: v for k, v in params.items() if k != "iss"})
    other = callback(app, demo_app, {**params, "iss": "https://evil.example/o"})
    right = callback(app, demo_app, params)

    assert missing.status_code == 400 and "Issuer mismatch" in missing.text
    assert other.status_code == 400 and "Issuer mismatch" in other.text
    assert right.status_code == 302 and right.headers["Location"] == "/", right.text[:500]
    home = app.get(f"{demo_app}/", timeout=30)
    assert "Signed in as" in home.text and "GET /api/orders/ &rarr; 200" in home.text


@live
def test_the_example_refuses_a_repeated_iss(provider, demo_app):
    app, params = authorization_response(provider, demo_app)
    query_string = urlencode(params) + "&" + urlencode({"iss": "https://evil.example/o"})

    response = app.get(f"{demo_app}/callback?{query_string}", allow_redirects=False, timeout=30)

    assert response.status_code == 400 and "Issuer mismatch" in response.text


@live
def test_the_example_checks_iss_on_an_error_response_too(provider, demo_app):
    app, params = authorization_response(provider, demo_app)
    forged = {"error": "access_denied", "state": params["state"]}

    assert "Issuer mismatch" in callback(app, demo_app, forged).text
    assert "Not connected" in callback(app, demo_app, {**forged, "iss": provider.issuer}).text
