"""Requests that carry secrets where clients put them, and a check that no server log holds one.

Shared by the tests of every server the project starts: ``make run``'s development server
(tests/test_server_logs.py), gunicorn as ``make serve`` runs it (tests/services/test_logs.py)
and the servers of the browser tests (tests/e2e/test_server_logs.py).
"""

from __future__ import annotations

import re
import secrets
import urllib.error
import urllib.request
from urllib.parse import quote, quote_plus

# A path followed by a query string, anywhere in a log.
QUERY_AFTER_PATH = re.compile(r"/[^\s\"'()]*\?")


def secret_requests() -> tuple[list[tuple[str, dict[str, str]]], dict[str, str]]:
    """(path, headers) of requests carrying secrets, and the secrets by name."""
    found = {
        name: f"{name}-{secrets.token_hex(8)}"
        for name in (
            "access_token",
            "id_token_hint",
            "code",
            "reset_token",
            "reset_uid",
            "confirm_token",
            "referer_code",
            "unrouted",
        )
    }
    requests = [
        (f"/api/orders/?access_token={found['access_token']}", {}),
        (f"/o/authorize/?response_type=code&client_id=demo-client&id_token_hint={found['id_token_hint']}", {}),
        (f"/healthz/?code={found['code']}", {}),
        (f"/accounts/password/reset/{found['reset_uid']}/{found['reset_token']}/", {}),
        (f"/accounts/email/confirm/{found['confirm_token']}/", {}),
        ("/accounts/login/", {"Referer": f"https://app.example.com/callback?code={found['referer_code']}"}),
        (f"/no/such/page/{found['unrouted']}/?state={found['unrouted']}", {}),
    ]
    return requests, found


def assert_no_secret(text: str, found: dict[str, str]) -> None:
    for name, value in found.items():
        for spelling in {value, quote(value, safe=""), quote_plus(value)}:
            assert spelling not in text, f"the {name} appears in the server's output:\n{text[-3000:]}"
    match = QUERY_AFTER_PATH.search(text)
    assert match is None, f"a query string appears in the server's output: {match.group(0)!r}\n{text[-3000:]}"


def fetch(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
