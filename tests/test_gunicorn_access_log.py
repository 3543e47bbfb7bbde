"""config/gunicorn_logging.py: the access log names routes and never writes a header or the environment.

Whatever ``access_log_format`` asks for: ``%({name}i)s`` (request headers: Cookie,
Authorization, Referer) and ``%({name}e)s`` (the environment: RAW_URI, QUERY_STRING) are
written as ``-``; response headers (``%({name}o)s``) and the usual atoms are gunicorn's.
"""

from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from config.gunicorn_logging import RedactingLogger

SECRETS = ("reset-token-123", "sessionid=s3cret", "Bearer tok3n", "code=c0de")
FORMAT = ('%(h)s "%(r)s" %(s)s %(b)s "%(a)s" %(U)s|%(q)s|%(f)s|%(u)s|%({cookie}i)s|%({authorization}i)s|'
          '%({referer}i)s|%({raw_uri}e)s|%({query_string}e)s|%({http_cookie}e)s|%({path_info}e)s|%({x-request-id}o)s')


@pytest.fixture
def access_lines():
    cfg = Config()
    cfg.set("access_log_format", FORMAT)
    cfg.set("accesslog", "/dev/null")
    logger = RedactingLogger(cfg)
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger.access_log.addHandler(Collect())
    logger.access_log.setLevel(logging.INFO)
    logger.access_log.propagate = False
    return logger, lines


def test_no_header_or_environment_variable_reaches_the_access_log_whatever_the_format(access_lines):
    logger, lines = access_lines
    environ = {
        "REMOTE_ADDR": "203.0.113.9", "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1",
        "RAW_URI": "/accounts/password/reset/MQ/reset-token-123/?code=c0de",
        "PATH_INFO": "/accounts/password/reset/MQ/reset-token-123/", "QUERY_STRING": "code=c0de",
        "HTTP_COOKIE": "sessionid=s3cret", "HTTP_AUTHORIZATION": "Bearer tok3n",
        "HTTP_REFERER": "https://example.test/?code=c0de", "HTTP_USER_AGENT": "agent/1.0",
    }
    request = SimpleNamespace(headers=[("COOKIE", "sessionid=s3cret"), ("AUTHORIZATION", "Bearer tok3n"),
                                       ("REFERER", "https://example.test/?code=c0de")])
    response = SimpleNamespace(status="200 OK", sent=12, headers=[("X-Request-ID", "abc123")])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=3))
    (line,) = lines
    assert not any(secret in line for secret in SECRETS), line
    fields = line.rsplit(" ", 1)[1].split("|")
    assert line.startswith('203.0.113.9 "GET /accounts/password/reset/<uidb64>/<token>/ HTTP/1.1" 200 12 "agent/1.0"')
    assert fields == ["/accounts/password/reset/<uidb64>/<token>/", "", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                      "abc123"]
