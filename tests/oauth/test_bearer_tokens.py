"""Bearer tokens on the JSON API (RFC 6750): where a token is read, and when it stops working.

Only the ``Authorization`` header carries a token. When it is present it alone decides: a
bad token is 401 ``INVALID_TOKEN`` even beside a valid session cookie, and a good one needs
no CSRF token. A token anywhere else is ignored, so the request is anonymous.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from orders.models import Order
from tests.factories import OrderFactory
from tests.support.clients import api_client
from tests.support.oauth import REVOKE_PATH, api_get, assert_api_error, bearer, form_post, mint_token

AccessToken = get_access_token_model()

pytestmark = pytest.mark.django_db

ALL = "openid profile email orders:read orders:write"


@pytest.fixture
def token(alice, public_client) -> str:
    return mint_token(alice, public_client.application, ALL)


def assert_not_authenticated(response) -> None:
    assert_api_error(response, 401, "NOT_AUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def assert_invalid_token(response) -> None:
    assert_api_error(response, 401, "INVALID_TOKEN")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_minted_token_works_in_the_authorization_header(token):
    """The baseline the other tests in this module depart from."""
    response = api_get(Client(), "/api/orders/", token)

    assert response.status_code == 200
    row = AccessToken.objects.get()
    assert row.token == ""  # stored as a checksum only (RFC 9700 token storage)


# --- Where a token is read ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/orders/", "/api/me/"])
def test_a_token_in_the_query_string_is_ignored(token, path):
    assert_not_authenticated(Client().get(f"{path}?{urlencode({'access_token': token})}"))


def test_a_token_in_a_form_body_is_ignored(token, alice):
    order = OrderFactory(owner=alice)

    response = Client().post(
        f"/api/orders/{order.pk}/cancel/",
        urlencode({"access_token": token}),
        content_type="application/x-www-form-urlencoded",
    )

    assert_not_authenticated(response)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_a_token_in_a_json_body_is_ignored(token):
    response = Client().post(
        "/api/orders/",
        json.dumps({"access_token": token, "amount": "1.00", "currency": "EUR"}),
        content_type="application/json",
    )

    assert_not_authenticated(response)
    assert not Order.objects.exists()


def test_userinfo_ignores_a_token_in_the_query_string(token):
    response = Client().get(f"/o/userinfo/?{urlencode({'access_token': token})}")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_ignores_a_token_in_a_form_body(token):
    response = form_post(Client(), "/o/userinfo/", {"access_token": token})

    assert response.status_code == 401
    assert b"sub" not in response.content


def test_a_token_in_the_header_with_another_scheme_is_refused(token):
    response = Client().get("/api/orders/", headers={"Authorization": f"Token {token}"})

    assert_invalid_token(response)


# --- The Authorization header decides ----------------------------------------------------------------


def test_a_bad_token_beside_a_valid_session_cookie_is_invalid_token(alice):
    browser = api_client(alice)
    assert browser.get("/api/orders/").status_code == 200  # the cookie alone works

    assert_invalid_token(browser.get("/api/orders/", headers=bearer("not-a-token")))
    assert_invalid_token(browser.get("/api/me/", headers=bearer("not-a-token")))


def test_an_empty_bearer_header_beside_a_valid_session_cookie_is_invalid_token(alice):
    browser = api_client(alice)

    assert_invalid_token(browser.get("/api/orders/", headers={"Authorization": "Bearer "}))


def test_a_valid_token_needs_no_csrf_token(alice, token):
    browser = Client(enforce_csrf_checks=True)
    api_client_for_cookie = api_client(alice)
    browser.cookies = api_client_for_cookie.cookies  # a session cookie is there too, no X-CSRFToken

    refused = browser.post("/api/orders/", {"amount": "12.50", "currency": "EUR"}, content_type="application/json")
    created = browser.post(
        "/api/orders/", {"amount": "12.50", "currency": "EUR"}, content_type="application/json", headers=bearer(token)
    )

    assert_api_error(refused, 403, "CSRF_FAILED")
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == str(alice.pk)


def test_a_valid_token_without_any_cookie_needs_no_csrf_token(token, alice):
    response = Client(enforce_csrf_checks=True).post(
        "/api/orders/", {"amount": "12.50", "currency": "EUR"}, content_type="application/json", headers=bearer(token)
    )

    assert response.status_code == 201
    assert Order.objects.get().owner == alice


# --- When a token stops working ------------------------------------------------------------------------


def test_an_unknown_token_is_invalid_token():
    assert_invalid_token(api_get(Client(), "/api/orders/", "x" * 30))


def test_an_expired_token_is_invalid_token(token):
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    assert_invalid_token(api_get(Client(), "/api/orders/", token))
    assert_invalid_token(api_get(Client(), "/api/me/", token))


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        (["https://elsewhere.example.com/api/"], 401),  # another resource server's token
        (["http://testserver/api/"], 200),  # this API's, by URL prefix (DOT's validator)
        ([], 200),  # a token restricted to nothing is unrestricted
    ],
)
def test_a_token_restricted_to_another_resource_is_invalid_token_here(token, resource, status):
    """RFC 8707: the request's URL is checked against the resources a token was issued for."""
    AccessToken.objects.update(resource=resource)

    response = api_get(Client(), "/api/orders/", token)

    if status == 401:
        assert_invalid_token(response)
    else:
        assert response.status_code == status, response.content


def test_a_token_revoked_at_the_revocation_endpoint_is_invalid_token(token, public_client):
    response = form_post(Client(), REVOKE_PATH, {"token": token, "client_id": public_client.client_id})

    assert response.status_code == 200
    assert not AccessToken.objects.exists()
    assert_invalid_token(api_get(Client(), "/api/orders/", token))


def test_a_client_cannot_revoke_another_clients_token(token, other_public_client):
    form_post(Client(), REVOKE_PATH, {"token": token, "client_id": other_public_client.client_id})

    assert api_get(Client(), "/api/orders/", token).status_code == 200


def test_the_token_of_a_client_deleted_since_is_invalid_token(token, public_client):
    public_client.application.delete()

    assert_invalid_token(api_get(Client(), "/api/orders/", token))
