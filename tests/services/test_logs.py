"""The server processes' own output (stdout and stderr: request log, audit log, gunicorn's access
log, errors) during a full sign-in and OAuth flow: every request traced, no secret written.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote, quote_plus

import pytest

from core.redaction import route_of_path
from tests.services.cluster import describe
from tests.services.flows import WEB_CLIENT, api_get, authorize, code_exchange, refresh
from tests.support.oauth import csrf_from
from tests.support.server_logs import assert_no_secret, secret_requests

pytestmark = pytest.mark.services


def test_logs_of_a_login_and_an_oauth_flow_trace_every_request_and_hold_no_secret(cluster, server_a, server_b, agents):
    servers = (server_a, server_b)
    starts = {server.name: server.log_size() for server in servers}
    email, password = cluster.email("logs-erin"), cluster.password
    user_id = cluster.user_id("logs-erin")
    client_secret = cluster.registered[WEB_CLIENT]["client_secret"]
    assert client_secret
    traced = []  # (response, the user id its log line must name, or None when not checked)
    secrets = {"password": password, "client secret": client_secret}

    # Sign in on the login page through A; use the session through B.
    browser = agents("browser")
    page = browser.get(server_a, "/accounts/login/")
    secrets["login form CSRF token"] = csrf_from(page.text)
    signed_in = browser.post_form(
        server_a,
        "/accounts/login/",
        {
            "csrfmiddlewaretoken": secrets["login form CSRF token"],
            "email": email,
            "password": password,
            "next": "/orders/",
        },
    )
    assert signed_in.status_code == 302, describe(signed_in)
    traced += [(page, None), (signed_in, user_id), (browser.get(server_b, "/orders/"), user_id)]

    # Sign in through the JSON API on B; use it through A; sign out.
    app = agents("app")
    secrets["API CSRF token"] = app.csrf_token(server_b)
    login = app.api_login(server_b, email, password)
    assert login.status_code == 200, describe(login)
    secrets["API session cookie (before sign-out)"] = app.session_cookie
    secrets["API CSRF token after sign-in"] = app.csrf_token(server_a)
    me = app.get(server_a, "/api/me/")
    assert me.status_code == 200, describe(me)
    traced += [(login, user_id), (me, user_id)]

    # The OAuth flow: authorize and consent through A, code exchange through B, refresh through
    # A, then the API and userinfo with the bearer token through both.
    code, request = authorize(browser, server_a, WEB_CLIENT, scope="openid profile email orders:read", consent=True)
    secrets["authorization code"] = code
    exchanged = code_exchange(server_b, WEB_CLIENT, code, request, client_secret=client_secret)
    assert exchanged.status_code == 200, describe(exchanged)
    tokens = exchanged.json()
    refreshed = refresh(server_a, WEB_CLIENT, tokens["refresh_token"], client_secret=client_secret)
    assert refreshed.status_code == 200, describe(refreshed)
    newer = refreshed.json()
    for name, value in (("", tokens), ("refreshed ", newer)):
        secrets[f"{name}access token"] = value["access_token"]
        secrets[f"{name}refresh token"] = value["refresh_token"]
        secrets[f"{name}ID token"] = value["id_token"]
    orders = api_get(server_b, "/api/orders/", newer["access_token"])
    whoami = api_get(server_a, "/api/me/", newer["access_token"])
    userinfo = api_get(server_b, "/o/userinfo/", newer["access_token"])
    for answer in (orders, whoami, userinfo):
        assert answer.status_code == 200, describe(answer)
    traced += [(exchanged, None), (refreshed, None), (orders, user_id), (whoami, user_id), (userinfo, None)]

    logout = app.post_json(server_a, "/api/auth/logout/")
    assert logout.status_code == 200, describe(logout)
    traced.append((logout, None))

    for agent_name, agent in (("browser", browser), ("app", app)):
        for cookie in agent.http.cookies:
            secrets[f"{agent_name} cookie {cookie.name}"] = cookie.value

    # Wait until each process has written everything (gunicorn logs access after responding).
    marker = uuid.uuid4().hex
    logs = ""
    for server in servers:
        assert browser.get(server, "/healthz/", headers={"User-Agent": marker}).status_code == 200
        logs += server.wait_for_log(marker, starts[server.name]) + "\n"

    # The logs are the right ones (the access log, the audit log and the request log are all in there)...
    assert "POST /o/token/ HTTP/1.1" in logs and '"event": "request"' in logs and user_id in logs, logs[-2000:]
    # ...and hold no secret, in any spelling a URL or form would give it.
    assert len(secrets) >= 15, sorted(secrets)
    for name, value in secrets.items():
        assert value and len(value) >= 12, name
        for spelling in {value, quote(value, safe=""), quote_plus(value)}:
            assert spelling not in logs, f"the {name} appears in the server logs"

    # One structured line per request, found by the X-Request-ID the client saw, naming the user.
    records = {}
    for server in servers:
        for record in server.request_log(starts[server.name]):
            assert {"request_id", "user_id", "method", "path", "status", "outcome"} <= set(record), record
            records[record["request_id"]] = record
    for response, expected_user in traced:
        request_id = response.headers.get("X-Request-ID")
        assert request_id, describe(response)
        record = records.get(request_id)
        assert record is not None, f"no request log line for {describe(response)}"
        assert (record["method"], record["status"]) == (response.request.method, response.status_code), record
        assert record["path"] == route_of_path(response.request.path_url), record
        if expected_user:
            assert record["user_id"] == expected_user, record


def test_gunicorn_writes_routes_never_a_query_string_a_path_secret_or_a_referer(cluster, server_a, agents):
    """The access log, the error log and the request log of ``make serve``'s gunicorn."""
    start = server_a.log_size()
    agent = agents("logs-secrets")
    requests, found = secret_requests()
    statuses = [agent.get(server_a, path, headers=headers).status_code for path, headers in requests]
    assert statuses[3] == 200 and statuses[-1] == 404, statuses
    marker = uuid.uuid4().hex
    assert agent.get(server_a, "/healthz/", headers={"User-Agent": marker}).status_code == 200
    text = server_a.wait_for_log(marker, start)
    # gunicorn's access log names the routes...
    assert '"GET /accounts/password/reset/<uidb64>/<token>/ HTTP/1.1" 200' in text, text[-3000:]
    assert '"GET /api/orders/ HTTP/1.1" 401' in text and '"GET (no route) HTTP/1.1" 404' in text, text[-3000:]
    # ...and nothing a client put in a query string, a path or a Referer reaches any log.
    assert_no_secret(text, found)
