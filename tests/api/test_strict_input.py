"""Input the OpenAPI schema refuses is refused by the server too (found by schemathesis)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from orders.models import Order
from tests.factories import admin, customer
from tests.support.clients import api_call, api_client, api_login, csrf_token

pytestmark = pytest.mark.django_db


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["status"], body["code"]) == ("error", code)
    return body


@pytest.mark.parametrize("amount", [12.5, 12, "1e1", "012.50", " 12.50", "١٢", "12.50\n"])
def test_an_amount_is_a_plain_decimal_string(amount):
    client = api_client(customer())
    body = error(
        api_call(client, "POST", "/api/orders/", {"amount": amount, "currency": "EUR"}), 400, "VALIDATION_ERROR"
    )
    assert "amount" in body["fields"]
    assert not Order.objects.exists()


@pytest.mark.parametrize("value", ["true", "false", 1, 0, "yes", "on"])
def test_is_active_is_a_json_boolean(value):
    victim = customer()
    body = error(
        api_call(api_client(admin()), "PATCH", f"/api/users/{victim.pk}/", {"is_active": value}),
        400,
        "VALIDATION_ERROR",
    )
    assert "is_active" in body["fields"]
    victim.refresh_from_db()
    assert victim.is_active


@pytest.mark.parametrize("page", ["²", "١", "+1", " 1"])
def test_a_page_number_in_other_digits_is_a_400_not_a_500(page):
    client = api_client(customer())
    body = error(client.get("/api/orders/", {"page": page}), 400, "VALIDATION_ERROR")
    assert "page" in body["fields"]


@pytest.mark.parametrize("path", ["/api/orders/", "/api/auth/logout/"])
def test_a_multipart_body_without_a_boundary_is_a_415_not_a_500(path):
    # The CSRF check reads a form body first (Django's test client skips it unless asked).
    client = api_login(Client(enforce_csrf_checks=True), customer())
    response = client.generic(
        "POST",
        path,
        json.dumps({"amount": "1.00", "currency": "EUR"}),
        content_type="multipart/form-data",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "alternatives"),
    [
        ("/api/auth/login/2fa/", {"code": "123456", "recovery_code": "abcd-efgh"}, "code, recovery_code, passkey"),
        ("/api/auth/login/2fa/", {}, "code, recovery_code, passkey"),
        ("/api/auth/reauthenticate/", {"password": "x" * 12, "code": "123456"}, "password, code, passkey"),
    ],
    ids=["second step: both", "second step: neither", "step-up: both"],
)
def test_exactly_one_of_the_alternatives_is_sent(path, body, alternatives):
    client = Client(enforce_csrf_checks=True)
    if path.startswith("/api/auth/reauth"):
        api_login(client, customer())
    response = client.post(path, body, content_type="application/json", headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"non_field_errors": [f"Send one of: {alternatives}."]}


def test_a_sign_in_body_over_the_upload_limit_is_a_400_that_names_the_limit_not_a_500(settings):
    """Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE; the API says so."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"email": "someone@example.com", "password": "x" * 2000})

    response = Client().post("/api/auth/login/", body, content_type="application/json")

    assert error(response, 400, "VALIDATION_ERROR")["message"] == "The request body is larger than 1000 bytes."


def test_a_write_over_the_upload_limit_is_a_400_and_writes_nothing(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = api_client(customer())

    response = api_call(client, "POST", "/api/orders/", {"amount": "1.00", "currency": "EUR", "note": "x" * 2000})

    assert error(response, 400, "VALIDATION_ERROR")["message"] == "The request body is larger than 1000 bytes."
    assert not Order.objects.exists()


@pytest.mark.parametrize("path", ["/o/token/", "/o/revoke_token/"])
def test_an_oauth_request_over_the_upload_limit_is_an_oauth_json_error(settings, path):
    """The machine endpoints answer OAuth's JSON error (RFC 6749 5.2), not the site's HTML page.
    (Introspection refuses a caller without credentials first: 401, before the body is read.)"""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = "grant_type=client_credentials&token=" + "x" * 2000

    response = Client().post(path, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The request body is larger than 1000 bytes.",
    }
    assert response["Cache-Control"] == "no-store"


def test_a_page_over_the_upload_limit_is_the_sites_400_page_that_says_so(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = Client().post("/accounts/login/", {"email": "a@example.com", "password": "x" * 2000})

    assert response.status_code == 400
    assert b"The request body is larger than 1000 bytes." in response.content
