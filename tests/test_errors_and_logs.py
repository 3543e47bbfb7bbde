"""Error answers (pages and API), outages as 503, and what the request log may contain."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.core import mail
from django.db import OperationalError
from django.test import Client
from django_redis.exceptions import ConnectionInterrupted
from oauth2_provider.models import get_application_model

from accounts import email_confirmation
from accounts.models import User
from oauth.registration import register_client
from tests.factories import PASSWORD, OrderFactory, customer
from tests.support.clients import api_login, csrf_token
from tests.support.oauth import REDIRECT_URI, api_get, mint_token
from tests.support.production import production_settings

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client_500():
    return Client(raise_request_exception=False)


def redis_down(*args, **kwargs):
    raise ConnectionInterrupted(connection=None)


# --- Error pages -------------------------------------------------------------------


def test_404_page_is_in_the_site_layout_and_api_404_is_json(client):
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert b"Page not found" in page.content and b"site-header" in page.content
    api = client.get("/api/no-such-endpoint/")
    assert api.status_code == 404
    assert api.json() == {"status": "error", "code": "NOT_FOUND", "message": "Not found."}


def test_a_bug_is_a_500_without_a_stack_trace_page_and_json(client_500):
    user = customer()
    client_500.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    with mock.patch("orders.views.selectors.order_list", side_effect=RuntimeError("secret detail")):
        page = client_500.get("/orders/")
    assert page.status_code == 500
    assert b"Something went wrong" in page.content
    assert b"Traceback" not in page.content and b"secret detail" not in page.content
    api_client = api_login(Client(raise_request_exception=False), user)
    with mock.patch("orders.api.selectors.order_list", side_effect=RuntimeError("secret detail")):
        api = api_client.get("/api/orders/")
    assert api.status_code == 500
    assert api.json() == {"status": "error", "code": "SERVER_ERROR", "message": "Internal server error."}


# --- Outages: 503, never a way around the throttle -------------------------------------


def test_login_with_the_cache_down_is_503_and_signs_nobody_in(client_500):
    user = customer()
    with mock.patch("accounts.throttles.count", side_effect=redis_down):
        page = client_500.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
        token = csrf_token(client_500)
        api = client_500.post(
            "/api/auth/login/",
            {"email": user.email, "password": PASSWORD},
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
    assert page.status_code == 503 and page["Retry-After"].isdigit()
    assert b"temporarily unavailable" in page.content
    assert api.status_code == 503 and api["Retry-After"].isdigit()
    assert api.json()["code"] == "SERVICE_UNAVAILABLE"
    assert client_500.get("/api/me/").status_code == 401  # nobody got through unthrottled


def test_pages_that_need_no_throttle_keep_working_with_the_cache_down(client):
    user = customer()
    OrderFactory(owner=user)
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    with mock.patch("django_ratelimit.core.caches") as caches:
        caches.__getitem__.return_value.add.side_effect = redis_down
        assert client.get("/orders/").status_code == 200


def test_database_down_is_503_for_pages_api_and_oauth(client_500):
    user = customer()
    client_500.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    failing_load = mock.patch(
        "django.contrib.sessions.backends.db.SessionStore.load", side_effect=OperationalError("connection refused")
    )
    with failing_load:
        page = client_500.get("/orders/")
        api = client_500.get("/api/orders/")
    assert page.status_code == 503 and b"temporarily unavailable" in page.content
    assert b"connection refused" not in page.content and b"Traceback" not in page.content
    assert api.status_code == 503 and api.json()["code"] == "SERVICE_UNAVAILABLE"
    with mock.patch("oauth.views.TokenView.post", side_effect=OperationalError("connection refused")):
        token = Client(raise_request_exception=False).post("/o/token/", {"grant_type": "client_credentials"})
    assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"


def test_readyz_is_503_when_the_database_is_down(client):
    with mock.patch("core.health.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/readyz/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert response["Retry-After"].isdigit()


# --- Headers and CORS -------------------------------------------------------------------


def test_every_html_response_carries_the_security_headers(client):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"]


def test_signed_in_pages_api_and_oauth_responses_are_not_stored(client):
    assert "no-store" not in client.get("/").get("Cache-Control", "")  # public page
    user = customer()
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert client.get("/orders/")["Cache-Control"] == "no-store"
    assert Client().get("/api/auth/csrf/")["Cache-Control"] == "no-store"
    assert Client().post("/o/token/", {"grant_type": "password"})["Cache-Control"] == "no-store"


def test_cors_only_for_configured_origins_and_never_a_wildcard_with_credentials(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    allowed = Client().get("/api/auth/csrf/", headers={"Origin": "https://app.example.com"})
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = Client().get("/api/auth/csrf/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other
    token = Client().options(
        "/o/token/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert token.get("Access-Control-Allow-Origin") in (None, "")
    assert allowed.get("Access-Control-Allow-Credentials") != "true" or allowed["Access-Control-Allow-Origin"] != "*"


def test_production_settings_are_hardened(tmp_path):
    """Loaded in a fresh process with the production environment, as make serve does."""
    values = production_settings(
        tmp_path,
        "{k: getattr(settings, k) for k in ['DEBUG', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SESSION_COOKIE_NAME', 'CSRF_COOKIE_NAME', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SESSION_COOKIE_HTTPONLY', 'SESSION_ENGINE', 'SECURE_SSL_REDIRECT']} "
        "| {'cache': settings.CACHES['default']['BACKEND']}",
    )
    assert values["DEBUG"] is False
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SESSION_COOKIE_NAME"].startswith("__Host-") and values["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["SESSION_ENGINE"] == "accounts.session_store"  # database sessions (a subclass of Django's store)
    assert values["cache"] == "django_redis.cache.RedisCache"


# --- Request log -------------------------------------------------------------------------


def test_a_view_that_never_reads_the_user_still_logs_the_signed_in_user(client, request_log):
    """The log line resolves the user itself when a session cookie came with the request."""
    user = customer()
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    request_log.clear()
    client.get("/healthz/")  # decided without the session (see SessionLimitsMiddleware.PROBE_PATHS)
    (line,) = [json.loads(record.getMessage()) for record in request_log]
    assert line["user_id"] == str(user.pk)


def test_a_request_without_a_session_logs_nobody_and_reads_no_session(client, request_log):
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get("/healthz/")
    (line,) = [json.loads(record.getMessage()) for record in request_log]
    assert line["user_id"] is None and line["status"] == 200
    assert not [q for q in captured.captured_queries if Session._meta.db_table in q["sql"]]
    assert request_log[0].name == "request" and request_log[0].levelno == logging.INFO


def test_a_request_without_a_session_cookie_is_decided_without_resolving_the_user(client):
    """The second-factor gate, the session limits, the security headers and the log line all
    know there is nobody without asking the session (a signed-in user is still checked by each:
    the tests of the gate, the limits, no-store and the log's user_id): the user stays unresolved, and the
    answer does not vary on a cookie it never read (issue 16, the per-request floor)."""
    from django.utils.functional import empty

    response = client.get("/o/.well-known/jwks.json")  # a page that never reads the user
    assert response.status_code == 200
    assert response.wsgi_request.user._wrapped is empty
    assert "Cookie" not in response.get("Vary", "")


def test_a_bearer_request_without_a_cookie_logs_the_tokens_user(request_log):
    """The cookie-less fast path decides "nobody" only while the user is still Django's lazy one:
    DRF's bearer authentication replaces it, and the log line names the token's user."""
    user = customer()
    registered = register_client(
        name="Log App", client_type="public", grant="authorization-code",
        scopes=["openid", "orders:read"], redirect_uris=[REDIRECT_URI],
    )
    token = mint_token(user, get_application_model().objects.get(client_id=registered.client_id), "orders:read")

    response = api_get(Client(), "/api/orders/", token)

    assert response.status_code == 200, response.content
    assert not response.wsgi_request.COOKIES and response.wsgi_request.session.session_key is None
    (line,) = [json.loads(record.getMessage()) for record in request_log]
    assert line["user_id"] == str(user.pk) and line["client_id"] is None
    assert line["path"] == "/api/orders/" and line["outcome"] == "ok"


def test_a_machine_clients_bearer_request_without_a_cookie_logs_its_client_id(request_log):
    registered = register_client(
        name="Log Service", client_type="confidential", grant="client-credentials",
        scopes=["orders:read"], role="support", region="EU",
    )
    token = mint_token(None, get_application_model().objects.get(client_id=registered.client_id), "orders:read")

    response = api_get(Client(), "/api/orders/", token)

    assert response.status_code == 200, response.content
    assert not response.wsgi_request.COOKIES
    (line,) = [json.loads(record.getMessage()) for record in request_log]
    assert line["client_id"] == registered.client_id and line["user_id"] is None


def test_gunicorns_access_log_names_the_route_the_request_log_named_without_resolving_again(client, request_log):
    from config.gunicorn_logging import _route
    from core.redaction import ROUTE_ENVIRON_KEY

    response = client.get("/accounts/password/reset/MQ/secret-token-value/")
    (line,) = [json.loads(record.getMessage()) for record in request_log]
    environ = response.wsgi_request.META  # the WSGI environ gunicorn's access log reads
    assert environ[ROUTE_ENVIRON_KEY] == line["path"] == "/accounts/password/reset/<uidb64>/<token>/"
    with mock.patch("core.redaction.resolve", side_effect=AssertionError("resolved again")):
        assert _route(environ) == line["path"]
    # Without the request log's route (a request the site never saw), the path is resolved as before.
    assert _route({"PATH_INFO": "/accounts/password/reset/MQ/secret-token-value/"}) == line["path"]


def test_the_console_log_format_is_loggings_own_to_the_millisecond():
    from core.logformat import Formatter

    fmt = "%(asctime)s %(levelname)s %(name)s %(message)s"
    ours, standard = Formatter(fmt), logging.Formatter(fmt)
    for created in (1_700_000_000.0, 1_700_000_000.0015, 1_700_000_000.999, 1_700_000_001.25, 1_700_003_600.5):
        record = logging.LogRecord("request", logging.INFO, __file__, 0, "line", (), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000)
        assert ours.format(record) == standard.format(record)


def test_each_request_logs_one_json_line_with_id_user_and_outcome(client, request_log):
    user = customer()
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    request_log.clear()
    response = client.get("/orders/?status=paid")
    lines = [json.loads(record.getMessage()) for record in request_log]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == response["X-Request-ID"]
    assert line["user_id"] == str(user.pk)
    assert line["path"] == "/orders/" and line["status"] == 200 and line["outcome"] == "ok"


def test_no_password_cookie_or_token_reaches_the_logs(client, request_log, caplog):
    """At the levels the project configures (LOGGING), nothing secret is written."""
    user = customer()
    api_login(client, user)
    client.get("/api/orders/?access_token=leaked-token-value")
    client.get("/api/me/", headers={"Authorization": "Bearer not-a-real-token-value"})
    text = "\n".join(record.getMessage() for record in request_log) + caplog.text
    session_cookie = client.cookies["sessionid"].value
    for secret in (PASSWORD, session_cookie, "leaked-token-value", "not-a-real-token-value"):
        assert secret not in text
    assert User.objects.filter(pk=user.pk).exists()


def test_reset_and_confirmation_links_reach_the_logs_as_route_patterns_without_their_secrets(
    client, request_log, caplog, settings
):
    """The logged path of a reset link, replayed, reset the password: the route is logged instead."""
    settings.PUBLIC_ORIGIN = "https://auth.example.com"
    user = customer()
    client.post("/accounts/password/reset/", {"email": user.email})
    reset_path = re.search(
        r"https://auth\.example\.com(/accounts/password/reset/[^/\s]+/[^/\s]+/)", mail.outbox[-1].body
    )[1]
    uid, token = reset_path.split("/")[-3:-1]
    form = client.get(reset_path)
    assert form.status_code == 302  # to .../<uidb64>/set-password/
    new_password = "a brand new harbour lantern"
    done = client.post(form["Location"], {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302 and User.objects.get(pk=user.pk).check_password(new_password)
    confirm_token = email_confirmation.make_token(user)
    assert client.post(f"/accounts/email/confirm/{confirm_token}/").status_code == 302
    client.get(f"/accounts/email/confirm/{confirm_token}x/?next=/secret-query-value/")  # 400: a broken link
    client.get("/orders/?status=secret-query-value")

    lines = [json.loads(record.getMessage()) for record in request_log]
    assert [line["path"] for line in lines] == [
        "/accounts/password/reset/",
        "/accounts/password/reset/<uidb64>/<token>/",
        "/accounts/password/reset/<uidb64>/<token>/",
        "/accounts/email/confirm/<str:token>/",
        "/accounts/email/confirm/<str:token>/",
        "/orders/",
    ]
    text = "\n".join(record.getMessage() for record in request_log) + caplog.text
    for secret in (uid, token, confirm_token, "secret-query-value", "?"):
        assert secret not in text


def test_a_path_no_route_matches_is_not_logged(client, request_log):
    client.get("/accounts/password/reset-typo/MQ/secret-token-value/")
    assert [json.loads(record.getMessage())["path"] for record in request_log] == ["(no route)"]


def test_health_probes_with_a_session_cookie_do_not_need_the_session_store(client):
    user = customer()
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    with mock.patch(
        "django.contrib.sessions.backends.db.SessionStore.load", side_effect=OperationalError("connection refused")
    ):
        assert client.get("/healthz/").json() == {"status": "ok"}
        assert client.get("/readyz/").status_code == 200


def test_the_csrf_middleware_in_use_is_djangos_own():
    """security.W003 is silenced only because our middleware subclasses Django's."""
    from django.conf import settings as django_settings
    from django.middleware.csrf import CsrfViewMiddleware
    from django.utils.module_loading import import_string

    csrf = [import_string(path) for path in django_settings.MIDDLEWARE if "csrf" in path.lower()]
    assert len(csrf) == 1 and issubclass(csrf[0], CsrfViewMiddleware)


def test_an_outage_is_logged_as_one_line_not_a_traceback_per_request():
    from core.unavailable import OutageLogFilter

    def record_for(error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:  # noqa: BLE001 - whatever was raised, its exc_info is the record's
            return logging.LogRecord(
                "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", ("/x/",), sys.exc_info()
            )

    outage = record_for(OperationalError("connection refused"))
    assert OutageLogFilter().filter(outage) and outage.exc_info is None
    assert outage.getMessage() == "Internal Server Error: /x/ (service unavailable: OperationalError)"
    bug = record_for(RuntimeError("a real bug"))
    assert OutageLogFilter().filter(bug) and bug.exc_info is not None
