"""The account's JSON endpoints: CSRF, sign-in, /api/me/, error shapes; health probes."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from tests.accounts.helpers import INVALID_CREDENTIALS_BODY, LOGIN_API, ME_API, api_login_response, session_cookie
from tests.factories import PASSWORD, admin, customer
from tests.support.clients import api_login, csrf_token

pytestmark = pytest.mark.django_db


# --- CSRF ------------------------------------------------------------------------------


def test_csrf_endpoint_returns_a_token_and_sets_the_cookie(csrf_client):
    response = csrf_client.get("/api/auth/csrf/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"csrfToken"}
    assert body["csrfToken"]
    assert response.cookies[django_settings.CSRF_COOKIE_NAME].value


def test_api_login_without_csrf_header_is_refused(csrf_client):
    user = customer()
    csrf_client.get("/api/auth/csrf/")  # the cookie alone is not enough

    response = api_login_response(csrf_client, user.email)

    assert response.status_code == 403
    assert response.json()["code"] == "CSRF_FAILED"
    assert response.json()["status"] == "error"
    assert csrf_client.get(ME_API).status_code == 401


def test_api_login_without_any_csrf_cookie_is_refused(csrf_client):
    user = customer()
    response = api_login_response(csrf_client, user.email)
    assert response.status_code == 403
    assert response.json()["code"] == "CSRF_FAILED"


def test_api_login_with_a_wrong_csrf_header_is_refused(csrf_client):
    user = customer()
    csrf_client.get("/api/auth/csrf/")
    response = api_login_response(csrf_client, user.email, headers={"X-CSRFToken": "x" * 64})
    assert response.status_code == 403
    assert response.json()["code"] == "CSRF_FAILED"


def test_api_login_with_csrf_header_works(csrf_client):
    user = customer()
    token = csrf_token(csrf_client)
    response = api_login_response(csrf_client, user.email, headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_session_post_to_the_api_needs_the_csrf_header(csrf_client):
    user = customer()
    api_login(csrf_client, user)
    order = {"amount": "12.50", "currency": "EUR"}

    refused = csrf_client.post("/api/orders/", order, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "CSRF_FAILED"

    accepted = csrf_client.post(
        "/api/orders/", order, content_type="application/json", headers={"X-CSRFToken": csrf_token(csrf_client)}
    )
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["owner"] == str(user.pk)


def test_session_logout_through_the_api_needs_the_csrf_header(csrf_client):
    user = customer()
    api_login(csrf_client, user)

    refused = csrf_client.post("/api/auth/logout/", content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "CSRF_FAILED"
    assert csrf_client.get(ME_API).status_code == 200

    accepted = csrf_client.post(
        "/api/auth/logout/", content_type="application/json", headers={"X-CSRFToken": csrf_token(csrf_client)}
    )
    assert accepted.status_code == 200
    assert csrf_client.get(ME_API).status_code == 401


def test_login_page_post_without_csrf_token_is_refused(csrf_client):
    user = customer()
    response = csrf_client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert csrf_client.get(ME_API).status_code == 401


# --- POST /api/auth/login/ -------------------------------------------------------------------


def test_api_login_success_shape_and_new_session_cookie(client):
    user = customer(name="Grace Hopper")
    before = client.session.session_key

    response = api_login_response(client, user.email)

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "user": {"id": str(user.pk), "email": user.email, "name": "Grace Hopper", "role": "customer"},
    }
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie.value and cookie.value != before
    assert cookie["httponly"]
    assert session_cookie(client) == cookie.value
    assert response["Cache-Control"] == "no-store"


def test_api_login_wrong_password_body(client):
    user = customer()
    response = api_login_response(client, user.email, "not the right password")
    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS_BODY
    assert django_settings.SESSION_COOKIE_NAME not in response.cookies


def test_api_login_refuses_a_body_that_is_not_json(client):
    user = customer()
    response = client.post(LOGIN_API, {"email": user.email, "password": PASSWORD})  # form-encoded
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert client.get(ME_API).status_code == 401


def test_api_login_refuses_malformed_json(client):
    response = client.post(LOGIN_API, '{"email": "a@example.com", "password": ', content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == "VALIDATION_ERROR"


def test_api_login_refuses_an_unknown_field_and_names_it(client):
    user = customer()
    response = client.post(
        LOGIN_API,
        {"email": user.email, "password": PASSWORD, "remember_me": True},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "remember_me" in body["fields"]
    assert "remember_me" in body["message"]
    assert client.get(ME_API).status_code == 401


def test_api_login_missing_password_is_a_validation_error(client):
    response = client.post(LOGIN_API, {"email": "a@example.com"}, content_type="application/json")
    assert response.status_code == 400
    assert "password" in response.json()["fields"]


def test_api_login_refuses_get(client):
    response = client.get(LOGIN_API)
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


# --- GET /api/me/ ------------------------------------------------------------------------


def test_me_shape_for_a_signed_in_user(client):
    user = customer(name="Ada Customer")
    api_login(client, user)

    response = client.get(ME_API)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "name", "role", "region", "permissions"}
    assert body["id"] == str(user.pk)
    assert body["email"] == user.email
    assert body["name"] == "Ada Customer"
    assert body["role"] == "customer"
    assert body["region"] == "EU"
    assert len(body["permissions"]) >= 2
    assert body["permissions"] == sorted(body["permissions"])
    assert all("." in perm for perm in body["permissions"])
    assert "orders.add_order" in body["permissions"]


def test_me_permissions_follow_the_role(client):
    user = admin()
    api_login(client, user)
    body = client.get(ME_API).json()
    assert body["role"] == "admin"
    assert body["permissions"] == sorted(body["permissions"])
    assert len(body["permissions"]) >= 2


def test_me_anonymous_is_401_not_authenticated_with_bearer_challenge(client):
    response = client.get(ME_API)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == "NOT_AUTHENTICATED"
    assert body["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_api_responses_are_not_cached(client):
    assert client.get(ME_API)["Cache-Control"] == "no-store"


# --- Health -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz/", "/readyz/"])
def test_health_probes_answer_ok(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_503_without_detail_when_the_cache_is_down(client, monkeypatch):
    class BrokenCache:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down at 10.0.0.5:6379")

    monkeypatch.setattr("core.health.cache", BrokenCache())
    response = client.get("/readyz/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_form_encoded_unsafe_session_request_without_csrf_is_csrf_failed(csrf_client):
    """A form body must not turn the CSRF refusal into a 415."""
    api_login(csrf_client, customer())
    response = csrf_client.post("/api/orders/", {"amount": "10.00", "currency": "EUR"})
    assert response.status_code == 403
    assert response.json()["code"] == "CSRF_FAILED"
