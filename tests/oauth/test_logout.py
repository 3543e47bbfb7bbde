"""RP-initiated logout (``/o/logout/``): every request a client can send is answered, never a 500.

A bad request gets a 400 page naming the error, and nothing in the logs carries a traceback:
an anonymous request that crashes the view is log flooding for anyone (issue 11). What a
sign-out revokes and the rest of the logout story are a later issue's.
"""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.support.oauth import HTTPS_REDIRECT_URI, forms, tokens_for

pytestmark = pytest.mark.django_db

LOGOUT_PATH = "/o/logout/"
WATCHED_LOGGERS = ("", "django", "django.request", "django.security", "django.server", "oauth2_provider")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged():
    """Every record the framework loggers write during the test (several do not propagate)."""
    handler = Records()
    for name in WATCHED_LOGGERS:
        logging.getLogger(name).addHandler(handler)
    yield handler.records
    for name in WATCHED_LOGGERS:
        logging.getLogger(name).removeHandler(handler)


def assert_no_traceback(records) -> None:
    crashes = [record for record in records if record.exc_info or record.levelno >= logging.ERROR]
    assert not crashes, [(record.name, record.getMessage()) for record in crashes]


def assert_refused(response, records) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert "Location" not in response.headers
    text = response.content.decode()
    assert "sign-out request cannot be completed" in text
    assert "invalid_request" in text and "Traceback" not in text
    assert_no_traceback(records)


def segment(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_jwt(payload) -> str:
    return f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(payload)}.{segment(b'not a signature')}"


def logout(client: Client, **params):
    return client.get(f"{LOGOUT_PATH}?{urlencode(params)}")


@pytest.fixture
def id_token(browser, public_client) -> str:
    """An ID token issued to public_client for Alice, through a real authorization."""
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid")
    return tokens["id_token"]


# --- Refused with a 400 page -----------------------------------------------------------------------


def test_an_unknown_client_id_with_a_post_logout_redirect_uri_is_a_400_page(client, logged):
    """The reported 500: Application.DoesNotExist from DOT's view."""
    assert_refused(logout(client, client_id="nope", post_logout_redirect_uri="https://x/"), logged)


def test_an_unknown_client_id_alone_is_a_400_page(client, logged):
    assert_refused(logout(client, client_id="nope"), logged)


def test_an_unknown_client_id_is_a_400_page_for_a_signed_in_user_too(browser, logged):
    assert_refused(logout(browser, client_id="nope"), logged)


def test_an_unknown_client_id_posted_from_the_confirmation_form_is_a_400_page(browser, logged):
    response = browser.post(LOGOUT_PATH, {"client_id": "nope", "allow": "on"})

    assert_refused(response, logged)


BAD_HINTS = {
    "not a JWT": "garbage",
    "three dots of nothing": "a.b.c",
    "empty parts": "..",
    "payload not base64": f"{segment({'alg': 'RS256'})}.%%%.{segment(b'x')}",
    "payload not JSON": f"{segment({'alg': 'RS256'})}.{segment(b'not json')}.{segment(b'x')}",
    "payload not UTF-8": f"{segment({'alg': 'RS256'})}.{segment(bytes([0xff, 0xfe]))}.{segment(b'x')}",
    "payload a number": unsigned_jwt(5),
    "payload a list": unsigned_jwt(["aud"]),
    "aud a number": unsigned_jwt({"aud": 5}),
    "aud an object": unsigned_jwt({"aud": {"test-demo-client": 1}}),
    "aud a list of numbers": unsigned_jwt({"aud": [1, 2]}),
    "aud an unknown client": unsigned_jwt({"aud": "nope"}),
    "aud a client without signing keys": unsigned_jwt({"aud": "test-service"}),
    "aud the right client, forged signature": unsigned_jwt({"aud": "test-demo-client", "iss": "x", "jti": "y"}),
    "JSON serialization": json.dumps({"payload": segment({"aud": "test-service"}), "signature": "x"}),
}


@pytest.mark.parametrize("hint", BAD_HINTS.values(), ids=BAD_HINTS.keys())
def test_an_unreadable_or_forged_id_token_hint_is_a_400_page(client, public_client, service_client, logged, hint):
    assert_refused(logout(client, id_token_hint=hint), logged)


def test_an_id_token_hint_for_another_client_than_client_id_is_a_400_page(
    client, id_token, other_public_client, logged
):
    assert_refused(logout(client, id_token_hint=id_token, client_id=other_public_client.client_id), logged)


def test_a_post_logout_redirect_uri_the_client_did_not_register_is_a_400_page(client, id_token, public_client, logged):
    response = logout(
        client, id_token_hint=id_token, client_id=public_client.client_id, post_logout_redirect_uri=HTTPS_REDIRECT_URI
    )

    assert_refused(response, logged)


def test_a_post_logout_redirect_uri_without_a_client_is_a_400_page(client, logged):
    assert_refused(logout(client, post_logout_redirect_uri="https://x/"), logged)


# --- Answered without an error -------------------------------------------------------------------


def test_a_logout_without_parameters_from_an_anonymous_browser_goes_to_the_start_page(client, logged):
    """DOT redirected to build_absolute_uri('/') with https only: a 400 and a traceback on http."""
    response = logout(client)

    assert response.status_code == 302 and response["Location"] == "/"
    assert_no_traceback(logged)


def test_a_signed_in_user_without_parameters_is_asked_and_signing_out_ends_the_session(browser, logged):
    page = logout(browser)
    assert page.status_code == 200 and b'id="logoutForm"' in page.content

    response = browser.post(LOGOUT_PATH, {"allow": "on"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in browser.session
    assert_no_traceback(logged)


def test_a_valid_id_token_hint_asks_then_signs_its_user_out(browser, id_token, public_client, logged):
    page = logout(browser, id_token_hint=id_token, client_id=public_client.client_id)
    assert page.status_code == 200 and b"Demo App" in page.content  # DOT's default: always ask

    fields = next(form["fields"] for form in forms(page.content.decode()) if form["id"] == "logoutForm")
    response = browser.post(LOGOUT_PATH, {**fields, "allow": "on"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in browser.session
    assert_no_traceback(logged)
