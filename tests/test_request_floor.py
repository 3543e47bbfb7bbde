"""The per-request floor (issue 16): work that most requests never need is not done for them.

Each rule here is a saving that keeps the behaviour: the request log line is written once the
answer has left, the message storage is built only when a message is added or read, and
django-cors-headers runs only on the paths that answer other origins.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from django.contrib import messages
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils.functional import empty
from hypothesis import given, settings as hypothesis_settings, strategies as st

from core import middleware as middleware_module
from core.logformat import Formatter
from core.middleware import (
    MessageMiddleware,
    RequestLogMiddleware,
    request_line,
    request_logger,
    set_header,
    shipped_console,
)
from core.unavailable import OutageLogFilter

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


# --- The request line written without a record ----------------------------------------------
#
# With the "request" logger as config/settings.py ships it, the line is written directly
# (``core.middleware.shipped_console`` / ``write_shipped``); with any other configuration it goes
# through logging. Either way the bytes are what ``request_logger.info(line)`` writes.

LINE = request_line(
    request_id="0f0105fda0ea3a50ff0be586ef2a004d", method="GET", path="/plain/", status=200, outcome="ok",
    user_id=None, client_id=None, duration_ms=0.4,
)


def _console_handler() -> logging.Handler:
    (handler,) = [handler for handler in request_logger.handlers if handler.name == "console"]
    return handler


@contextmanager
def _as_shipped():
    """The "request" logger with its shipped handlers only: pytest attaches its capture handlers
    to every logger that does not propagate, for each phase of a test. Taken off in place (the
    same list, which pytest removes its handlers from afterwards) and put back."""
    handlers = request_logger.handlers
    saved = handlers[:]
    handlers[:] = [handler for handler in handlers if handler.name == "console"]
    try:
        yield
    finally:
        handlers[:] = saved


@pytest.fixture
def console(monkeypatch):
    """The console handler writing into a buffer; the logger's ``handle`` counted (a record went
    through logging)."""
    handler = _console_handler()
    buffer = io.StringIO()
    monkeypatch.setattr(handler, "stream", buffer)
    handled = []
    original = request_logger.handle

    def handle(record):
        handled.append(record)
        original(record)

    monkeypatch.setattr(request_logger, "handle", handle)
    return SimpleNamespace(handler=handler, buffer=buffer, handled=handled)


def _written(console, write) -> str:
    console.buffer.seek(0)
    console.buffer.truncate()
    write()
    return console.buffer.getvalue()


# Whole seconds, the millisecond's edges, and instants whose float fraction rounds down.
INSTANTS = (1_767_225_600.0, 1_767_225_599.9995, 1_767_225_599.999999, 1_767_225_600.0004999, 1_767_225_600.1239999,
            1_767_225_601.25, 1_700_000_000.001, 1_767_229_200.5)


@pytest.mark.parametrize("now", INSTANTS)
def test_the_shipped_configuration_writes_the_request_line_without_a_record_byte_for_byte(console, monkeypatch, now):
    monkeypatch.setattr(time, "time", lambda: now)

    with _as_shipped():
        assert shipped_console(request_logger) is console.handler, "the test profile ships the production LOGGING"
        direct = _written(console, lambda: RequestLogMiddleware._log(LINE))
        assert console.handled == []  # no record: the line was written directly
        through_logging = _written(console, lambda: request_logger.info(LINE))

    assert direct == through_logging
    # and that is the standard library's own text for the record, to the millisecond
    (record,) = console.handled
    assert direct == logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s").format(record) + "\n"
    assert direct.endswith(" INFO request " + LINE + "\n")


@hypothesis_settings(max_examples=200, deadline=None)
@given(now=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_the_line_written_without_a_record_has_loggings_time_at_any_instant(now):
    """Any instant (up to 2100): the date, the time and its milliseconds as logging writes them."""
    handler = _console_handler()
    buffers = io.StringIO(), io.StringIO()
    saved = time.time, handler.stream
    time.time = lambda: now
    try:
        with _as_shipped():
            assert shipped_console(request_logger) is handler
            handler.stream = buffers[0]
            RequestLogMiddleware._log(LINE)
            handler.stream = buffers[1]
            request_logger.info(LINE)
    finally:
        time.time, handler.stream = saved

    assert buffers[0].getvalue() == buffers[1].getvalue()


def test_the_handlers_filters_leave_a_request_line_record_as_it_is():
    """Why the direct write may skip them: neither filter changes a record of no arguments and no
    exception, such as the request line's (they rewrite Django's paths and outage tracebacks)."""
    from core.redaction import RequestLineFilter
    from core.unavailable import OutageLogFilter

    record = request_logger.makeRecord("request", logging.INFO, __file__, 0, LINE, (), None)
    before = dict(vars(record))

    assert OutageLogFilter().filter(record) and RequestLineFilter().filter(record)
    assert vars(record) == before


class _Loud(logging.StreamHandler):
    def format(self, record):
        return super().format(record).upper()


class _LoudFormatter(Formatter):
    def format(self, record):
        return super().format(record).upper()


class _LoudStyle(logging.PercentStyle):
    def _format(self, record):
        return super()._format(record).upper()


class _Drop(OutageLogFilter):
    def filter(self, record):
        return False


class _Loggers(logging.Logger):
    def handle(self, record):
        record.msg = "(custom logger) " + record.msg
        super().handle(record)


def _other_formatter(handler, **kwargs):
    return Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", **kwargs)


def _factory(original):
    def factory(*args, **kwargs):
        record = original(*args, **kwargs)
        record.msg = "(factory) " + record.msg
        return record

    return factory


# Each: what an operator's LOGGING (or code at run time) may change about the "request" logger,
# applied with monkeypatch. None of them may be written directly.
CONFIGURATIONS = {
    "another format": lambda mp, logger, handler: mp.setattr(
        handler, "formatter", Formatter("%(levelname)s %(message)s")
    ),
    "a date format": lambda mp, logger, handler: mp.setattr(
        handler, "formatter", _other_formatter(handler, datefmt="%H:%M")
    ),
    "no milliseconds": lambda mp, logger, handler: mp.setattr(handler.formatter, "default_msec_format", None),
    "another formatter class": lambda mp, logger, handler: mp.setattr(
        handler, "formatter", _LoudFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    ),
    "another style": lambda mp, logger, handler: mp.setattr(
        handler.formatter, "_style", _LoudStyle("%(asctime)s %(levelname)s %(name)s %(message)s")
    ),
    "another handler class": lambda mp, logger, handler: mp.setattr(handler, "__class__", _Loud),
    "a handler level": lambda mp, logger, handler: mp.setattr(handler, "level", logging.WARNING),
    "a filter on the handler": lambda mp, logger, handler: mp.setattr(
        handler, "filters", [*handler.filters, lambda record: False]
    ),
    "one of the filters replaced": lambda mp, logger, handler: mp.setattr(
        handler, "filters", [_Drop(), handler.filters[1]]
    ),
    "the filters' other": lambda mp, logger, handler: mp.setattr(
        handler, "filters", [handler.filters[0], _Drop()]
    ),
    "a filter on the logger": lambda mp, logger, handler: mp.setattr(logger, "filters", [lambda record: False]),
    "another handler on the logger": lambda mp, logger, handler: logger.handlers.append(
        logging.StreamHandler(handler.stream)  # taken off with pytest's by _as_shipped
    ),
    "propagation": lambda mp, logger, handler: mp.setattr(logger, "propagate", True),
    "the logger disabled": lambda mp, logger, handler: mp.setattr(logger, "disabled", True),
    "another logger class": lambda mp, logger, handler: mp.setattr(logger, "__class__", _Loggers),
    "a record factory": lambda mp, logger, handler: mp.setattr(
        logging, "_logRecordFactory", _factory(logging.getLogRecordFactory())
    ),
    "another level name": lambda mp, logger, handler: logging.addLevelName(logging.INFO, "NOTE"),  # see level_names
    "a Python whose records keep another clock": lambda mp, logger, handler: mp.setattr(
        middleware_module, "_RECORD_CLOCK", False
    ),
}


@pytest.fixture
def level_names():
    """``addLevelName`` changes two tables; both are put back."""
    saved = dict(logging._levelToName), dict(logging._nameToLevel)
    yield
    logging._levelToName.clear()
    logging._levelToName.update(saved[0])
    logging._nameToLevel.clear()
    logging._nameToLevel.update(saved[1])


@pytest.mark.parametrize("change", CONFIGURATIONS, ids=list(CONFIGURATIONS))
def test_any_other_configuration_of_the_request_logger_gets_its_line_through_logging(
    console, monkeypatch, level_names, change
):
    """The line goes through logging and reads as ``info()`` would write it with that configuration."""
    monkeypatch.setattr(time, "time", lambda: 1_767_225_600.25)
    with _as_shipped():
        CONFIGURATIONS[change](monkeypatch, request_logger, console.handler)
        assert shipped_console(request_logger) is None

        written = _written(console, lambda: RequestLogMiddleware._log(LINE))
        assert len(console.handled) == 1  # a record, through the logger
        expected = _written(console, lambda: request_logger.info(LINE))

    assert written == expected


def test_a_capture_handler_on_the_request_logger_gets_the_line_and_the_console_too(console):
    """A test's capture (or an operator's second handler): both get the line, as logging would."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    with _as_shipped():
        request_logger.addHandler(Collect())
        RequestLogMiddleware._log(LINE)

    assert [record.getMessage() for record in records] == [LINE]
    assert console.buffer.getvalue().endswith(" INFO request " + LINE + "\n")


def test_a_failed_write_goes_to_the_handlers_error_handling_with_a_record_of_the_line(console, monkeypatch):
    """As ``StreamHandler.emit``: the request goes on, ``handleError`` gets the record."""
    failures = []

    class Broken:
        def write(self, text):
            raise OSError("disk full")

    monkeypatch.setattr(console.handler, "stream", Broken())
    monkeypatch.setattr(console.handler, "handleError", failures.append)

    with _as_shipped():
        RequestLogMiddleware._log(LINE)
    assert console.handled == []  # the line was written directly, and its failure handled as emit's

    (record,) = failures
    assert record.getMessage() == LINE and record.levelno == logging.INFO and record.name == "request"


# --- Headers ------------------------------------------------------------------------------------


def _django_sets(name, value, *, replace, before=()):
    """The headers Django's own API leaves: ``response[name] = value`` or ``setdefault``."""
    response = HttpResponse(headers=dict(before))
    if replace:
        response[name] = value
    else:
        response.setdefault(name, value)
    return response.headers._store


def _set_header_sets(name, value, *, replace, before=()):
    response = HttpResponse(headers=dict(before))
    set_header(response, name, value, replace=replace)
    return response.headers._store


@hypothesis_settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=30), replace=st.booleans(),
       present=st.booleans())
def test_set_header_leaves_what_djangos_header_api_leaves_for_any_value(value, replace, present):
    """Stored directly when Django would store the value as it is; otherwise Django's own checks run
    (a line break refused, a character beyond Latin-1 MIME-encoded)."""
    from django.http import BadHeaderError

    before = {"X-Request-ID": "earlier"} if present else {}
    try:
        expected = _django_sets("X-Request-ID", value, replace=replace, before=before)
    except BadHeaderError:
        with pytest.raises(BadHeaderError):
            _set_header_sets("X-Request-ID", value, replace=replace, before=before)
        return
    assert _set_header_sets("X-Request-ID", value, replace=replace, before=before) == expected


def test_set_header_refuses_a_line_break_as_django_does():
    from django.http import BadHeaderError

    for value in ("abcdefgh\n", "a\r\nSet-Cookie: x=1"):
        with pytest.raises(BadHeaderError):
            set_header(HttpResponse(), "X-Request-ID", value, replace=True)


def test_set_header_keeps_a_content_security_policy_the_view_set():
    """The consent page sets its own policy (oauth/views.py): the site's default does not replace it."""
    response = HttpResponse(headers={"Content-Security-Policy": "form-action https://client.example"})

    set_header(response, "Content-Security-Policy", "default-src 'self'", replace=False)

    assert response["Content-Security-Policy"] == "form-action https://client.example"


def test_set_header_on_a_response_of_another_kind_uses_its_own_item_assignment():
    class Bare:
        def __init__(self):
            self.headers = {}

        def __setitem__(self, name, value):
            self.headers[name] = value

        def setdefault(self, name, value):
            self.headers.setdefault(name, value)

    bare = Bare()
    set_header(bare, "X-Request-ID", "abc", replace=True)
    set_header(bare, "Content-Security-Policy", "default-src 'self'", replace=False)

    assert bare.headers == {"X-Request-ID": "abc", "Content-Security-Policy": "default-src 'self'"}


def test_the_bare_views_headers_are_the_ones_django_would_have_stored(settings):
    response = Client().get("/healthz/")
    store = response.headers._store

    assert store["content-security-policy"] == ("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
    assert store["x-request-id"] == ("X-Request-ID", response.wsgi_request.id)


@pytest.mark.parametrize(
    ("trusted", "sent", "kept"),
    [
        (1, "proxy-id-0123456789", True),
        (0, "proxy-id-0123456789", False),  # no trusted proxy: a client could choose it
        (1, "short", False),  # malformed: fewer than 8 characters
        (1, "has space 123456", False),
        (1, "proxy-id-0123456789\n", False),  # a final newline: "$" alone would have let it through
        (1, "", False),
        (1, None, False),
    ],
)
def test_the_request_id_is_ours_unless_a_trusted_proxy_sent_a_well_formed_one(settings, trusted, sent, kept):
    settings.TRUSTED_PROXY_COUNT = trusted
    headers = {} if sent is None else {"X-Request-ID": sent}

    response = Client().get("/healthz/", headers=headers)

    if kept:
        assert response["X-Request-ID"] == sent
    else:
        assert response["X-Request-ID"] != sent and re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


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
