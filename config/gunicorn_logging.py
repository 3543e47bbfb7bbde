"""gunicorn's logger for the production profile: no query string, path secret or Referer.

gunicorn's access log writes the raw request line (query string included) and, in its
default format, the Referer; its error log quotes the request URI when a request fails.
This logger gives every atom that could carry them the route pattern instead (see
core/redaction.py), or nothing: ``%(r)s`` is ``GET /accounts/password/reset/<uidb64>/<token>/
HTTP/1.1``, ``%(U)s`` the route, ``%(q)s``, ``%(f)s``, request headers (``%({name}i)s``) and
the environment (``%({name}e)s``) are empty. Used by ``make serve``, ``make bench`` and the
service tests through config/gunicorn.conf.py.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

WITHHELD = "-"


def _route(environ: dict) -> str:
    try:
        from core.redaction import ROUTE_ENVIRON_KEY, route_of_path

        known = environ.get(ROUTE_ENVIRON_KEY)
        if isinstance(known, str):
            return known  # the route the request log line named (core.middleware), not resolved again
        return route_of_path(environ.get("PATH_INFO") or "/")
    except Exception:  # noqa: BLE001 - Django not loaded (yet): say nothing rather than the path
        return "(no route)"


# What gunicorn's own atoms read from the environment; the rest of it is never logged.
_ATOM_ENVIRON = ("REMOTE_ADDR", "REQUEST_METHOD", "RAW_URI", "SERVER_PROTOCOL", "PATH_INFO", "QUERY_STRING",
                 "HTTP_REFERER", "HTTP_USER_AGENT", "HTTP_AUTHORIZATION")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        # Headers (Referer, Authorization, Cookie) and the environment (RAW_URI, QUERY_STRING):
        # never written, whatever access_log_format asks for. gunicorn's atoms are built
        # without them (no request headers, only the variables its own atoms read, withheld
        # below), and its SafeAtoms answers "-" for any other %({name}i)s or %({name}e)s: about
        # half of the 67 µs the atoms took per request went into copying headers and
        # environment only to withhold them.
        atoms = super().atoms(resp, (), {key: environ[key] for key in _ATOM_ENVIRON if key in environ}, request_time)
        route = _route(environ)
        method, version = environ.get("REQUEST_METHOD", "-"), environ.get("SERVER_PROTOCOL", "-")
        atoms.update(r=f"{method} {route} {version}", U=route, q="", f=WITHHELD)
        for key in [key for key in atoms if key.endswith(("}i", "}e"))]:  # the variables passed above
            atoms[key] = WITHHELD
        return atoms

    def warning(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("Invalid request from ip="):
            # gunicorn quotes the malformed request line (query string and all) after the colon.
            msg, args = msg.split(":", 1)[0] + ": (request line withheld)", ()
        super().warning(msg, *args, **kwargs)

    def exception(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("Error handling request") and args:
            # "Error handling request %s %s", method, uri: the URI carries the query string.
            args = tuple("(request URI withheld)" if isinstance(arg, str) and "/" in arg else arg for arg in args)
        super().exception(msg, *args, **kwargs)
