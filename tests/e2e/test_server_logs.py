"""The servers of the browser tests (the site under runserver, the example app) write no secret."""

from __future__ import annotations

import secrets

import pytest

from tests.support.server_logs import assert_no_secret, fetch, secret_requests
from tests.support.servers import Process

pytestmark = pytest.mark.e2e


def test_the_site_and_the_example_app_log_no_query_string_or_path_secret(site: Process, demo_app: Process):
    site_start, app_start = site.log_path.stat().st_size, demo_app.log_path.stat().st_size
    requests, found = secret_requests()
    statuses = [fetch(site.origin + path, headers) for path, headers in requests]
    assert statuses[3] == 200 and statuses[-1] == 404, statuses
    found |= {"callback code": f"code-{secrets.token_hex(8)}", "callback state": f"state-{secrets.token_hex(8)}"}
    fetch(f"{demo_app.origin}/callback?code={found['callback code']}&state={found['callback state']}", {})
    fetch(f"{demo_app.origin}/?code={found['callback code']}", {})
    for process in (site, demo_app):  # each logs a request after answering it: these flush the others
        fetch(f"{process.origin}/", {})

    site_text = site.log_path.read_bytes()[site_start:].decode(errors="replace")
    app_text = demo_app.log_path.read_bytes()[app_start:].decode(errors="replace")
    assert '"GET /accounts/password/reset/<uidb64>/<token>/ HTTP/1.1" 200' in site_text, site_text[-3000:]
    assert '"GET /callback"' in app_text, app_text[-3000:]
    assert_no_secret(site_text, found)
    assert_no_secret(app_text, found)
