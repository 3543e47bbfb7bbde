"""Site-wide HTTP rules: security headers, caching of private responses, deny by default."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from json.encoder import encode_basestring_ascii as _json_string  # json.dumps's own string encoder
from typing import Any, cast

from corsheaders.middleware import CorsMiddleware as HeadersCorsMiddleware
from corsheaders.signals import check_request_enabled
from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http.response import ResponseHeaders
from django.utils.functional import SimpleLazyObject, empty

from core.logformat import FORMAT as LOG_FORMAT, Formatter as LogFormatter
from core.redaction import ROUTE_ENVIRON_KEY, RequestLineFilter, route_of
from core.unavailable import OutageLogFilter, is_service_outage

request_logger = logging.getLogger("request")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")  # the whole value (fullmatch): "$" would pass a final newline

PRIVATE_PREFIXES = ("/api/", "/o/")


class SecurityHeadersMiddleware:
    """Content-Security-Policy on every response; no-store on everything private."""

    def __init__(self, get_response):
        self.get_response = get_response
        # Read once, as Django's SecurityMiddleware reads its settings: a settings read costs
        # about 3k instructions (``LazySettings``), the header itself 9k through ``setdefault``.
        self.content_security_policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        set_header(response, "Content-Security-Policy", self.content_security_policy, replace=False)
        if request.path.startswith(PRIVATE_PREFIXES) or self._is_signed_in(request):
            response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _is_signed_in(request) -> bool:
        try:
            user = getattr(request, "user", None)
            if surely_anonymous(request):
                return False
            return bool(user is not None and user.is_authenticated)
        except Exception as error:
            if not is_service_outage(error):
                raise
            return True  # unknown: treat as private, never cacheable


class LoginRequiredByDefaultMiddleware(LoginRequiredMiddleware):
    """Every page needs a signed-in user unless marked ``login_not_required``.

    API views (DRF) and the OAuth endpoints authenticate themselves, with bearer tokens
    as well as sessions, and answer 401 rather than redirecting; their own default is
    deny too (``IsAuthenticated``).
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if hasattr(view_func, "cls") or request.path.startswith(PRIVATE_PREFIXES):
            return None
        if not getattr(view_func, "login_required", True):
            return None  # public: decided without loading the session (health probes)
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequestLogMiddleware:
    """One structured (JSON) log line per request: id, who, what, outcome, duration.

    Only the route pattern is logged (``/accounts/password/reset/<uidb64>/<token>/``, see
    core/redaction.py), never the path itself, the query string, headers, cookies or
    body: reset and confirmation tokens travel in paths, codes, tokens, passwords and
    secrets in the rest. The request id is ours unless a trusted proxy
    (TRUSTED_PROXY_COUNT > 0) sent a well-formed X-Request-ID.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = self._request_id(request)
        started = time.perf_counter()
        response = self.get_response(request)
        set_header(response, "X-Request-ID", request.id, replace=True)
        if request_logger.isEnabledFor(logging.INFO):
            route = route_of(request)
            request.META[ROUTE_ENVIRON_KEY] = route  # gunicorn's access log names it without resolving again
            duration_ms = round((time.perf_counter() - started) * 1000, 1)

            def write_line() -> None:
                self._log(self._line(request, response, duration_ms, route))

            self._after_response(response, write_line)
        return response

    @staticmethod
    def _after_response(response, write_line) -> None:
        """Write the line once the answer has left: when the server closes the response.

        The WSGI server calls ``close()`` after it has sent the body (gunicorn after its own
        access log line), so encoding and writing the line no longer delays the answer; Django's
        test client closes every response too. Django runs a response's closers in ``close()``
        and swallows their errors, which a lost log line must not turn into a failed request
        anyway. A response class without closers gets its line at once.
        """
        closers = getattr(response, "_resource_closers", None)
        if closers is None:
            write_line()
        else:
            closers.append(write_line)

    @staticmethod
    def _log(line: str) -> None:
        """``request_logger.info(line)``, written directly when the configuration is the shipped one.

        With the "request" logger as config/settings.py ships it (``shipped_console``), the line
        is written as logging would write it, without a ``LogRecord``. Any other configuration
        (another handler, formatter, format, filter or level, a record factory: an operator's
        LOGGING, a test's capture) gets a record that goes through the logger's filters and
        handlers exactly as ``info()`` would, without ``findCaller``'s walk up the stack: no
        formatter we ship shows the caller, and the record names this module.
        """
        handler = shipped_console(request_logger)
        if handler is None:
            record = request_logger.makeRecord(request_logger.name, logging.INFO, __file__, 0, line, (), None)
            request_logger.handle(record)
        else:
            write_shipped(request_logger, handler, line)

    @staticmethod
    def _request_id(request) -> str:
        incoming = request.META.get("HTTP_X_REQUEST_ID")
        if incoming and settings.TRUSTED_PROXY_COUNT and REQUEST_ID.fullmatch(incoming):
            return incoming
        return os.urandom(16).hex()  # uuid4().hex's 32 hex digits, without building a UUID per request

    @staticmethod
    def _line(request, response, duration_ms: float, route: str) -> str:
        status = response.status_code
        user_id, client_id = RequestLogMiddleware._principal(request)
        return request_line(
            request_id=request.id,
            method=request.method,
            path=route,
            status=status,
            outcome="ok" if status < 400 else "denied" if status in (401, 403, 404, 429) else "error",
            user_id=user_id,
            client_id=client_id,
            duration_ms=duration_ms,
        )

    @staticmethod
    def _principal(request) -> tuple[str | None, str | None]:
        """Who made the request. ``request.user`` may still be lazy, and reading it loads the
        session: with the database down that raises again, here, after the 503 was rendered,
        which would lose this log line and the X-Request-ID header. Unknown then."""
        try:
            user: Any = getattr(request, "user", None)  # a User, AnonymousUser or an OAuth client
            if surely_anonymous(request):
                return None, None
            user_id = str(user.pk) if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) else None
            return user_id, getattr(user, "client_id", None)
        except Exception as error:
            if not is_service_outage(error):
                raise
            return None, None


# LogRecord's clock (``time.time()``, ``msecs`` from its fraction) is Python 3.11's and 3.12's;
# 3.13 reads ``time.time_ns()`` and rounds differently: there, every line goes through logging.
_RECORD_CLOCK = sys.version_info[:2] in {(3, 11), (3, 12)}


def shipped_console(logger: logging.Logger) -> logging.StreamHandler | None:
    """The logger's console handler if the logger is configured exactly as config/settings.py
    ships it for the request line, else None.

    Shipped: no filter on the logger, no propagation, one ``logging.StreamHandler`` passing
    INFO, with exactly our two filters (``OutageLogFilter``, ``RequestLineFilter``, neither of
    which changes a record without arguments or exception, as the request line's) and our
    formatter with the shipped format and no date format, and the standard record factory
    and level name. Types are compared exactly: a subclass may format or filter otherwise.
    Checked on every line (about 5k instructions), so a configuration changed at run time is
    seen by the next line.
    """
    if not _RECORD_CLOCK or logger.filters or logger.propagate or logger.disabled or type(logger) is not logging.Logger:
        return None
    handlers = logger.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if type(handler) is not logging.StreamHandler or handler.level > logging.INFO:
        return None
    filters = handler.filters
    if len(filters) != 2 or type(filters[0]) is not OutageLogFilter or type(filters[1]) is not RequestLineFilter:
        return None
    formatter = handler.formatter
    if type(formatter) is not LogFormatter or formatter.datefmt is not None or not formatter.default_msec_format:
        return None
    style = formatter._style
    if type(style) is not logging.PercentStyle or style._fmt != LOG_FORMAT:
        return None
    if logging.getLogRecordFactory() is not logging.LogRecord or logging.getLevelName(logging.INFO) != "INFO":
        return None
    return handler


def write_shipped(logger: logging.Logger, handler: logging.StreamHandler, message: str) -> None:
    """What ``logger.info(message)`` writes through ``handler`` (``shipped_console``), byte for byte.

    The time is taken as ``LogRecord`` takes it and rendered by the handler's formatter; the
    text is the format's (``asctime levelname name message``), written and flushed under the
    handler's lock as ``StreamHandler.emit`` writes it. Without the record (its thread and
    process names, the module from ``__file__``), the filters that leave this line as it is,
    and the formatter's walk over the record: 20k instructions a line with the check, against
    55k for ``makeRecord`` and ``handle``. A failed write goes to ``handleError`` with a record
    of the line, as ``emit`` sends it.
    """
    created = time.time()
    msecs = int((created - int(created)) * 1000) + 0.0
    asctime = cast(LogFormatter, handler.formatter).asctime(created, msecs)
    text = f"{asctime} INFO {logger.name} {message}{handler.terminator}"
    lock = handler.lock
    if lock is not None:
        lock.acquire()
    try:
        stream = handler.stream
        stream.write(text)
        if stream and hasattr(stream, "flush"):
            stream.flush()
    except RecursionError:
        raise
    except Exception:  # noqa: BLE001 - as StreamHandler.emit: the error goes to handleError
        handler.handleError(logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, (), None))
    finally:
        if lock is not None:
            lock.release()


def set_header(response, name: str, value: str, *, replace: bool) -> None:
    """``response[name] = value`` (``replace``) or ``response.setdefault(name, value)``, cheaper.

    Django's ``ResponseHeaders`` checks every name and value it is given (encodable, no line
    break) through two method calls per header: about 6.5k instructions to set one, 9k with
    ``setdefault``'s lookup first. A value of printable ASCII passes those checks unchanged,
    so it is stored as Django would store it (``(name, value)`` under the lower-cased name),
    for about 3k with this call. Anything else (another character, another headers class, a response object
    of any kind) goes through the response's own ``__setitem__`` or ``setdefault`` as before.
    """
    headers = getattr(response, "headers", None)
    if type(headers) is ResponseHeaders and value.isascii() and value.isprintable():
        store = headers._store
        key = name.lower()
        if replace or key not in store:
            store[key] = (name, value)
    elif replace:
        response[name] = value
    else:
        response.setdefault(name, value)


def surely_anonymous(request) -> bool:
    """``request.user`` not resolved yet, and no session to resolve it from: anonymous for sure.

    AuthenticationMiddleware's lazy user reads the session; with no session key (no cookie,
    or a malformed one) there is nothing to read: it would resolve to
    ``AnonymousUser``. A bearer token or DRF replaces ``request.user`` itself, so it is no
    longer this lazy object and this answers False. The request log line, the security
    headers and the second-factor gate ask it first: resolving the user only to learn
    "nobody" cost every request without a cookie (issue 16, the per-request floor).
    """
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    return (
        isinstance(user, SimpleLazyObject)
        # What ``user._wrapped`` answers, without LazyObject's own __getattribute__ (a Python
        # call: 3k instructions against 1.8k, and this runs three times a request).
        and object.__getattribute__(user, "_wrapped") is empty
        and session is not None
        and session.session_key is None
    )


_REQUEST_LINE = (
    '{"event": "request", "request_id": %s, "method": %s, "path": %s, "status": %d, '
    '"outcome": %s, "user_id": %s, "client_id": %s, "duration_ms": %r}'
)


def request_line(*, request_id: str, method: str, path: str, status: int, outcome: str,
                 user_id: str | None, client_id: str | None, duration_ms: float) -> str:
    """The request log line's JSON: the text ``json.dumps`` gives for these fields, in this order.

    Every request writes one, and ``json.dumps`` of the nine fields cost about 31k instructions
    a line (it builds its C encoder per call), a third of the line's whole cost; here each
    string goes through the same C function ``json.dumps`` uses for strings (``\\uXXXX``
    escapes, as with ``ensure_ascii``) and the numbers through their ``repr``, as JSON's
    encoder writes them: about 10k. ``tests/test_request_floor.py`` checks the two agree on
    any values.
    """
    return _REQUEST_LINE % (
        _json_string(request_id), _json_string(method), _json_string(path), int(status), _json_string(outcome),
        _json_text(user_id), _json_text(client_id), float(duration_ms),
    )


def _json_text(value: str | None) -> str:
    return "null" if value is None else _json_string(value)


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's, except on the paths of ``SESSIONLESS_PATHS``: no session is read or written there.

    The token, introspection and revocation endpoints authenticate a client (a secret, a
    client id), never a browser: a cookie sent to them must not cost a session read (the
    request log line reads ``request.user``, which loads it), nor a ``Vary: Cookie`` or a
    cookie refresh in the answer. Those requests get an empty session of no key, which reads
    nothing from the store and is never saved, so ``request.user`` is anonymous at no cost.
    """

    def __init__(self, get_response):
        super().__init__(get_response)
        self.sessionless_paths = settings.SESSIONLESS_PATHS  # read once: twice a request cost 7k instructions

    def process_request(self, request):
        if request.path in self.sessionless_paths:
            request.session = self.SessionStore()
            return
        super().process_request(request)

    def process_response(self, request, response):
        if request.path in self.sessionless_paths:
            return response
        return super().process_response(request, response)


class MessageMiddleware(DjangoMessageMiddleware):
    """Django's, with the message storage built only when a message is added or read.

    Django builds the storage for every request: the cookie storage's signer (a key
    derived from ``SECRET_KEY``) and the session storage, then asks it to save what it
    holds. Most requests (the API, OAuth, health probes, any page without a notice) never
    touch it. Here the storage is built on first use (``messages.info``, the template's
    ``messages``), and a storage never built has nothing to save: Django's ``update()``
    stores only what was read or added.
    """

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        storage = getattr(request, "_messages", None)
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:
            return response
        return super().process_response(request, response)


class CorsMiddleware(HeadersCorsMiddleware):
    """django-cors-headers', passed by entirely on paths outside ``CORS_URLS_REGEX``.

    Only the JSON API and the OAuth endpoints answer other origins (``CORS_URLS_REGEX``).
    django-cors-headers decides that per request with the regex, a signal
    (``check_request_enabled``) and a look at its settings on the way in and on the way out;
    a page or a health probe needs none of it. When a receiver of that signal is connected
    (none is here), every request goes through it as before.
    """

    def __init__(self, get_response):
        super().__init__(get_response)
        self.urls = re.compile(settings.CORS_URLS_REGEX)

    def __call__(self, request):
        # ``receivers``, not ``has_listeners()``: that walks the receivers under a lock on every
        # request (8k instructions) to learn what an empty list says.
        if self.urls.match(request.path_info) or check_request_enabled.receivers:
            return super().__call__(request)
        return self.get_response(request)
