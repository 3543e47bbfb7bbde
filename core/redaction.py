"""What a log line may say about a request: its route pattern, never its path or query.

Password-reset and email-confirmation tokens travel in the path, authorization parameters,
``id_token_hint`` and tokens someone pasted into a URL in the query string, and any of them
in a Referer. So every log line of every server this project starts (the request log,
``make run``'s development server, gunicorn's access and error logs) names a request by the
route it matched (``/accounts/password/reset/<uidb64>/<token>/``), a static file by its path,
and anything else as ``(no route)``: a mistyped link is a secret too.

Resolving costs one walk of the URL patterns (microseconds), only when the router has not
already matched the request.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.urls import Resolver404, resolve

UNRESOLVED = "(no route)"
# The WSGI environ key under which the request log leaves the route it wrote, for gunicorn's
# access log line of the same request (config/gunicorn_logging.py): one resolution per
# request, not two. A client cannot set it (headers arrive as HTTP_* keys).
ROUTE_ENVIRON_KEY = "core.redaction.route"
WITHHELD = "(withheld)"
STATIC_FILE = re.compile(r"^[A-Za-z0-9._/-]*$")  # hashed asset names: no secret, nothing odd


def route_of_path(path: str) -> str:
    """The route pattern a path matches, or the static file it names, or ``(no route)``."""
    path = path.split("?", 1)[0]
    static_url = settings.STATIC_URL or "/static/"
    if path.startswith(static_url) and STATIC_FILE.match(path) and ".." not in path:
        return path
    try:
        return "/" + resolve(path).route
    except Resolver404:
        return UNRESOLVED
    except Exception:  # noqa: BLE001 - a malformed path must never break a log line
        return UNRESOLVED


def route_of(request) -> str:
    """The route the request matched (already resolved by the router when it got that far)."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return "/" + match.route
    return route_of_path(request.path_info)


def safe_request_line(line: str) -> str:
    """``GET /accounts/password/reset/<uidb64>/<token>/ HTTP/1.1`` for any request line."""
    parts = line.split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        return WITHHELD  # not a request line we understand: nothing of it is written
    method, target, version = parts
    return f"{method[:16]} {route_of_path(target)} {version[:16]}"


class RequestLineFilter(logging.Filter):
    """Rewrite the request paths and lines Django's own loggers write.

    - ``django.server`` (``make run``): ``"GET /path?query HTTP/1.1" 200 512`` becomes the
      route; the detail of an error about a malformed request (which quotes it) is dropped.
    - ``django.request`` and ``django.security.*``: ``Not Found: /path``, ``Forbidden (CSRF
      ...): /path`` name the route instead of the path.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.args, tuple) or not record.args:
            return True
        if record.name == "django.server":
            record.args = self._server_args(record.msg, record.args)
        else:
            request = getattr(record, "request", None)
            path = getattr(request, "path", None)
            if isinstance(path, str):
                record.args = tuple(route_of(request) if arg == path else arg for arg in record.args)
        return True

    @staticmethod
    def _server_args(message: str, args: tuple) -> tuple:
        if message == '"%s" %s %s' and isinstance(args[0], str):
            return (safe_request_line(args[0]), *args[1:])
        if message.startswith("code %d, message"):
            return (args[0], WITHHELD, *args[2:])
        return tuple(WITHHELD if isinstance(arg, str) and ("/" in arg or "?" in arg) else arg for arg in args)
