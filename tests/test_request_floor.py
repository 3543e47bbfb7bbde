"""The per-request floor (issue 16): work that most requests never need is not done for them.

Each rule here is a saving that keeps the behaviour: the request log line is written once the
answer has left, the message storage is built only when a message is added or read, and
django-cors-headers runs only on the paths that answer other origins.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib import messages
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils.functional import empty
from hypothesis import given, settings as hypothesis_settings, strategies as st

from core.middleware import MessageMiddleware, RequestLogMiddleware, request_line

pytestmark = pytest.mark.django_db


# --- The request log line ---------------------------------------------------------------------


def test_the_request_line_is_written_when_the_server_closes_the_response_not_before(request_log):
    """The server sends the answer, then closes it: the line costs the answer no time."""
    request = RequestFactory().get("/healthz/")
    middleware = RequestLogMiddleware(lambda request: HttpResponse("ok", status=200))

    response = middleware(request)

    assert response["X-Request-ID"] == request.id
    assert request_log == []  # answered, nothing written yet
    response.close()
    (record,) = request_log
    line = json.loads(record.getMessage())
    assert line["request_id"] == request.id and line["status"] == 200 and line["path"] == "/healthz/"
    assert isinstance(line["duration_ms"], float)


def test_a_response_without_closers_gets_its_line_at_once(request_log):
    """Any response object a view may return still gets its line, written at once."""

    class Bare:
        status_code = 204

        def __init__(self):
            self.headers = {}

        def __setitem__(self, name, value):
            self.headers[name] = value

    request = RequestFactory().get("/healthz/")
    RequestLogMiddleware(lambda request: Bare())(request)

    (record,) = request_log
    assert json.loads(record.getMessage())["status"] == 204


def test_every_request_through_the_site_gets_one_line(client, request_log):
    """The WSGI server (here Django's test client, which closes every response as a server does)."""
    client.get("/healthz/")
    client.get("/no-such-page/")

    assert [json.loads(r.getMessage())["status"] for r in request_log] == [200, 404]


_text = st.text(alphabet=st.characters(), max_size=40)  # any code point: quotes, controls, surrogates


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    request_id=_text, method=_text, path=_text, status=st.integers(min_value=100, max_value=599),
    outcome=st.sampled_from(["ok", "denied", "error"]), user_id=st.none() | _text, client_id=st.none() | _text,
    duration_ms=st.floats(min_value=0, max_value=1e7, allow_nan=False).map(lambda ms: round(ms, 1)),
)
def test_the_request_line_is_the_json_that_json_dumps_writes_for_any_values(**fields):
    """``request_line`` writes its JSON by hand (issue 16, the per-request floor): for any
    value, it is the text ``json.dumps`` gives, escapes included, and reads back the same."""
    line = request_line(**fields)

    assert line == json.dumps({"event": "request", **fields})
    assert json.loads(line) == {"event": "request", **fields}


# --- Messages ---------------------------------------------------------------------------------


def test_a_request_that_never_touches_messages_never_builds_their_storage():
    response = Client().get("/healthz/")

    assert response.wsgi_request._messages._wrapped is empty
    assert "messages" not in response.cookies


def test_a_message_added_during_a_request_is_stored_and_read_by_the_next_one():
    """The storage built on first use saves what was added, as Django's does (the cookie
    storage first, as Django's FallbackStorage does)."""
    from django.contrib.sessions.backends.base import SessionBase

    middleware = MessageMiddleware(lambda request: HttpResponse())
    first = RequestFactory().get("/")
    first.session = SessionBase()
    middleware.process_request(first)
    messages.info(first, "marker")
    response = middleware.process_response(first, HttpResponse())

    second = RequestFactory().get("/")
    second.session = SessionBase()
    second.COOKIES["messages"] = response.cookies["messages"].value
    middleware.process_request(second)
    assert [str(message) for message in messages.get_messages(second)] == ["marker"]


# --- CORS ---------------------------------------------------------------------------------------


def test_cors_headers_stay_on_the_api_and_oauth_paths(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    origin = {"Origin": "https://app.example.com"}

    api = Client().get("/api/auth/csrf/", headers=origin)
    jwks = Client().get("/o/.well-known/jwks.json", headers=origin)

    assert api["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert jwks["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "origin" in api["Vary"].lower()


def test_pages_answer_no_other_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    page = Client().get("/accounts/login/", headers={"Origin": "https://app.example.com"})

    assert page.status_code == 200
    assert "Access-Control-Allow-Origin" not in page
    assert "origin" not in page.get("Vary", "").lower()


def test_a_receiver_of_cors_headers_signal_still_decides_for_every_path(settings):
    """django-cors-headers lets a receiver of ``check_request_enabled`` open any path: with one
    connected, the path filter steps aside and the library decides, as before."""
    from corsheaders.signals import check_request_enabled

    settings.CORS_ALLOWED_ORIGINS = []

    def allow_login_page(sender, request, **kwargs):
        return request.path == "/accounts/login/"

    check_request_enabled.connect(allow_login_page)
    try:
        page = Client().get("/accounts/login/", headers={"Origin": "https://partner.example"})
    finally:
        check_request_enabled.disconnect(allow_login_page)

    assert page["Access-Control-Allow-Origin"] == "https://partner.example"


def test_a_page_never_enters_django_cors_headers():
    """Outside ``CORS_URLS_REGEX`` the library is passed by: not even its header step runs."""
    from unittest import mock

    from corsheaders.middleware import CorsMiddleware

    with mock.patch.object(CorsMiddleware, "add_response_headers", side_effect=AssertionError("entered")):
        page = Client().get("/accounts/login/", headers={"Origin": "https://app.example.com"})

    assert page.status_code == 200


# --- Django's own request lines -------------------------------------------------------------------


def test_a_refusal_writes_the_request_line_and_no_second_django_line(client, request_log, caplog):
    """A 404 or a 401 is one line (the request log's, with its status), not two."""
    with caplog.at_level(logging.DEBUG):
        client.get("/no-such-page/")
        Client().get("/api/me/")

    assert [json.loads(r.getMessage())["status"] for r in request_log] == [404, 401]
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_a_server_error_still_reaches_djangos_request_logger(caplog):
    """5xx lines, with their tracebacks, are kept (an outage's is one line, core.unavailable)."""
    from unittest import mock

    from tests.factories import PASSWORD, customer

    client = Client(raise_request_exception=False)
    user = customer()
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    with (
        mock.patch("orders.views.selectors.order_list", side_effect=RuntimeError("a bug")),
        caplog.at_level(logging.DEBUG),
    ):
        response = client.get("/orders/")

    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR and record.exc_info is not None
